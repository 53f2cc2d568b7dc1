
from tests.models.contract import ModelContract
from trustrec.data import Dataset
from trustrec.models import create_model


class TestPopularity(ModelContract):
    model_name = "popularity"


def test_popularity_ranks_by_count(planted: Dataset) -> None:
    model = create_model("popularity").fit(planted)
    recs = model.recommend([0], k=3, exclude_seen=False)
    counts = planted.item_counts()
    assert list(counts[recs.items[0]]) == sorted(counts, reverse=True)[:3]
