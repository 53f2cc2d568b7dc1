"""trustrec: a recommender system that can be trusted."""

__version__ = "0.1.0"
