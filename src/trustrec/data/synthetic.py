"""A synthetic interaction dataset with planted, learnable structure and item text.

Users have latent tastes over named topics (Dirichlet), items are topic mixtures, item
popularity and user activity follow power laws, and each user picks items in proportion
to ``popularity × affinity^taste_strength`` (sampled without replacement with the
Gumbel-top-k trick, vectorised over users). Ratings 1–5 come from taste affinity plus
user and item biases and noise. Timestamps increase per user in sessions. Items get titles,
genres and descriptions written from per-topic word lists, so text models have something
true to learn; users get attributes of which gender and age group mildly shift tastes, so
fairness audits find real gaps (occupation and country are independent of tastes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trustrec.data.dataset import Dataset
from trustrec.data.ids import IdIndex
from trustrec.data.tables import items_frame
from trustrec.errors import ConfigError

#: Topic name → word list (16 words each, no word in two topics). Names become genres.
TOPICS: dict[str, tuple[str, ...]] = {
    "Sci-Fi": ("space", "robot", "galaxy", "planet", "starship", "android", "alien", "orbit",
               "colony", "signal", "future", "laser", "comet", "clone", "station", "voyager"),
    "Romance": ("love", "heart", "kiss", "wedding", "summer", "letter", "promise", "bride",
                "rose", "dance", "moonlight", "lovers", "paris", "sweetheart", "affair",
                "valentine"),
    "Crime": ("detective", "heist", "gang", "murder", "alibi", "witness", "cartel", "badge",
              "verdict", "robbery", "suspect", "precinct", "mob", "informant", "vault", "ransom"),
    "Fantasy": ("dragon", "wizard", "kingdom", "sword", "spell", "crown", "elf", "quest",
                "throne", "realm", "prophecy", "sorcerer", "castle", "enchantress", "relic",
                "giant"),
    "Comedy": ("party", "roommate", "prank", "vacation", "neighbor", "roadtrip", "mixup", "buddy",
               "blunder", "reunion", "sitcom", "goofball", "karaoke", "bachelor", "circus",
               "slapstick"),
    "Horror": ("ghost", "curse", "haunting", "zombie", "blood", "shadow", "demon", "asylum",
               "ritual", "witch", "cellar", "nightmare", "corpse", "graveyard", "possession",
               "scream"),
    "Documentary": ("ocean", "wildlife", "climate", "forest", "expedition", "science", "volcano",
                    "glacier", "migration", "reef", "archive", "interview", "ecosystem",
                    "desert", "river", "species"),
    "War": ("soldier", "battle", "army", "trench", "general", "siege", "empire", "resistance",
            "bomber", "frontline", "platoon", "invasion", "medal", "veteran", "fortress",
            "admiral"),
    "Sports": ("team", "coach", "champion", "stadium", "league", "match", "goal", "boxer",
               "marathon", "rookie", "playoff", "trophy", "rival", "season", "racer", "underdog"),
    "Music": ("band", "song", "guitar", "concert", "singer", "album", "tour", "melody", "rhythm",
              "stage", "piano", "jazz", "drummer", "chorus", "record", "festival"),
    "Animation": ("bunny", "puppy", "toy", "fairy", "penguin", "adventure", "rainbow", "monster",
                  "kitten", "island", "treasure", "pirate", "candy", "balloon", "dinosaur",
                  "panda"),
    "Western": ("cowboy", "sheriff", "outlaw", "saloon", "frontier", "horse", "canyon", "bounty",
                "ranch", "gunslinger", "prairie", "stagecoach", "railroad", "marshal", "rustler",
                "mesa"),
}
_ADJECTIVES = ("Silent", "Last", "Hidden", "Broken", "Endless", "Secret", "Golden", "Dark",
               "Lost", "Final", "Burning", "Frozen", "Crimson", "Wild", "Distant", "Eternal")
_GENERIC = ("story", "journey", "life", "friends", "world", "time", "family", "truth", "city",
            "night", "dream", "memory", "choice", "danger", "hope", "stranger")
_TITLE_TEMPLATES = ("The {adj} {a}", "{a} of the {b}", "{adj} {a}", "The {a} and the {b}",
                    "Return of the {a}", "{adj} {b}")
_GENDERS, _GENDER_P = ("M", "F"), (0.6, 0.4)
_AGE_GROUPS, _AGE_P = ("18-24", "25-34", "35-44", "45-54", "55+"), (0.25, 0.35, 0.2, 0.12, 0.08)
_OCCUPATIONS = ("student", "engineer", "artist", "teacher", "healthcare", "sales", "retired",
                "writer", "technician", "other")
_COUNTRIES, _COUNTRY_P = (("US", "GB", "DE", "IN", "BR", "FR", "JP", "NG"),
                          (0.35, 0.12, 0.1, 0.15, 0.1, 0.08, 0.06, 0.04))
_START = 1_546_300_800  # 2019-01-01 00:00:00 UTC
_CHUNK = 2_000_000  # users × items scores held at once while sampling


def _ids(prefix: str, n: int) -> np.ndarray:
    """``prefix`` + 1-based zero-padded numbers: ``u00001``, …"""
    width = max(5, len(str(n)))
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width))


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Power-law weights ``rank^-exponent`` over a random ranking of ``n`` entities."""
    return (rng.permutation(n) + 1.0) ** -exponent


def _item_topics(n_items: int, n_topics: int, rng: np.random.Generator) -> np.ndarray:
    """Item × topic mixtures (sparse Dirichlet; a single column of ones for one topic)."""
    return rng.dirichlet(np.full(n_topics, 0.2), size=n_items) if n_topics > 1 \
        else np.ones((n_items, 1))


def _allocate(weights: np.ndarray, total: int, low: int, cap: int) -> np.ndarray:
    """Counts ``clip(low + floor(s · weights), low, cap)`` summing to ``total`` (needs
    ``low · n ≤ total ≤ cap · n``): bisection on the scale ``s``, then the few users whose
    count jumped at the final step give the excess back."""
    def counts(scale: float) -> np.ndarray:
        return np.clip(low + np.floor(scale * weights), low, cap).astype(np.int64)

    lo, hi = 0.0, (cap + 1.0) / weights.min()
    for _ in range(64):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if counts(mid).sum() < total else (lo, mid)
    out, below = counts(hi), counts(lo)
    jumped = np.flatnonzero(out > below)
    out[jumped[: out.sum() - total]] -= 1
    return out


def _users_table(n_users: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": _ids("u", n_users),
        "gender": rng.choice(_GENDERS, size=n_users, p=_GENDER_P),
        "age_group": rng.choice(_AGE_GROUPS, size=n_users, p=_AGE_P),
        "occupation": rng.choice(_OCCUPATIONS, size=n_users),
        "country": rng.choice(_COUNTRIES, size=n_users, p=_COUNTRY_P),
    })


def _tastes(users: pd.DataFrame, n_topics: int, rng: np.random.Generator) -> np.ndarray:
    """User × topic taste mixtures; gender and age group shift the Dirichlet prior.

    Each level's shift of the log prior is random in direction but fixed in size (RMS 0.3
    over topics, centred across levels), so every seed plants a gap of similar strength.
    """
    shift = np.zeros((len(users), n_topics))
    for column, levels in (("gender", _GENDERS), ("age_group", _AGE_GROUPS)):
        effect = rng.normal(0.0, 1.0, size=(len(levels), n_topics))
        effect -= effect.mean(axis=0)
        effect *= 0.3 / (np.sqrt((effect**2).mean(axis=1, keepdims=True)) + 1e-12)
        shift += effect[pd.Categorical(users[column], categories=levels).codes]
    raw = rng.standard_gamma(0.3 * np.exp(shift)) + 1e-12
    return raw / raw.sum(axis=1, keepdims=True)


def _choose_items(log_pop: np.ndarray, theta: np.ndarray, phi: np.ndarray, counts: np.ndarray,
                  taste_strength: float, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``counts[u]`` distinct items per user ∝ ``pop · affinity^taste_strength``."""
    n_users, n_items = len(theta), len(log_pop)
    step = max(1, _CHUNK // n_items)
    users, items = [], []
    for start in range(0, n_users, step):  # chunks of users bound memory, not a per-user loop
        rows = np.arange(start, min(start + step, n_users))
        affinity = theta[rows] @ phi.T
        gumbel = -np.log(-np.log(rng.random(affinity.shape)))
        keys = log_pop + taste_strength * np.log(affinity + 1e-3) + gumbel
        order = np.argsort(-keys, axis=1)
        take = np.arange(n_items) < counts[rows, None]
        users.append(np.repeat(rows, counts[rows]))
        items.append(order[take])
    return np.concatenate(users), np.concatenate(items)


def _timestamps(user: np.ndarray, counts: np.ndarray, span_s: int,
                rng: np.random.Generator) -> np.ndarray:
    """Strictly increasing per-user times (``user`` sorted): sessions of interactions minutes
    apart, session starts spread like uniform order statistics over the user's active
    period, which lies inside ``[_START, _START + span_s]``."""
    n_users, n = len(counts), len(user)
    begin = _START + rng.uniform(0.0, 0.75, n_users) * span_s
    duration = rng.uniform(0.05, 1.0, n_users) * (_START + span_s - 86_400 - begin)
    first = (np.cumsum(counts) - counts)[user]
    is_first = np.arange(n) == first
    new_session = is_first | (rng.random(n) < 0.25)
    later_session = new_session & ~is_first
    between = np.where(later_session, rng.exponential(1.0, n), 0.0)
    within = np.where(new_session, 0.0, 30.0 + rng.exponential(240.0, n))

    def per_user_cumsum(x: np.ndarray) -> np.ndarray:
        total = np.cumsum(x)
        return total - total[first] + x[first]

    between = per_user_cumsum(between)
    last = np.zeros(n_users)
    active = counts > 0
    last[active] = between[(np.cumsum(counts) - 1)[active]]
    scale = duration / np.maximum(last, 1e-9)
    settle = 60.0 * per_user_cumsum(later_session.astype(float))  # ≥ 1 min between sessions
    offset = scale[user] * between + settle + per_user_cumsum(within)
    return (begin[user] + offset).astype(np.int64)


def _titles(top: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """"The Silent Galaxy"-style titles from each item's two main topics (``top``: n × 2);
    repeated titles get sequel numbers ("… 2")."""
    names = list(TOPICS)
    words = rng.integers(0, 16, size=(len(top), 2))
    adjectives = rng.choice(_ADJECTIVES, size=len(top))
    templates = rng.choice(_TITLE_TEMPLATES, size=len(top))
    titles = pd.Series([
        template.format(adj=adj, a=TOPICS[names[t0]][w0].title(), b=TOPICS[names[t1]][w1].title())
        for template, adj, (t0, t1), (w0, w1) in zip(templates, adjectives, top, words,
                                                     strict=True)
    ])
    sequel = titles.groupby(titles).cumcount()
    return titles.where(sequel == 0, titles + " " + (sequel + 1).astype(str))


def _descriptions(phi: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """15–30 words per item: 85% from topics drawn by the item's mixture, 15% generic."""
    n_items, n_topics = phi.shape
    vocab = np.array([TOPICS[name] for name in list(TOPICS)[:n_topics]])
    lengths = rng.integers(15, 31, size=n_items)
    owner = np.repeat(np.arange(n_items), lengths)
    cdf = np.cumsum(phi, axis=1)[owner]
    topic = np.minimum((cdf < rng.random(len(owner))[:, None]).sum(axis=1), n_topics - 1)
    pick = rng.integers(0, vocab.shape[1], size=len(owner))
    words = np.where(rng.random(len(owner)) < 0.85, vocab[topic, pick],
                     np.asarray(_GENERIC)[pick])
    text = pd.Series(words).groupby(owner).agg(" ".join)
    return text.str[:1].str.upper() + text.str[1:] + "."


def _items_table(phi: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """``item_id, title, genres, text, description``; genres are the topics with weight
    ≥ 0.2 (at most three, always the main one), strongest first."""
    names = np.array(list(TOPICS)[: phi.shape[1]])
    top = np.argsort(-phi, axis=1)[:, :3]
    strong = np.take_along_axis(phi, top, axis=1) >= 0.2
    strong[:, 0] = True
    genres = ["|".join(names[t[s]]) for t, s in zip(top, strong, strict=True)]
    description = _descriptions(phi, rng)
    second = top[:, 1] if phi.shape[1] > 1 else top[:, 0]
    ids = pd.Series(_ids("i", len(phi)))
    return items_frame(ids, _titles(np.column_stack([top[:, 0], second]), rng),
                       pd.Series(genres), description=description,
                       extra=pd.DataFrame({"description": description}))


def _ratings(theta: np.ndarray, phi: np.ndarray, log_pop: np.ndarray, user: np.ndarray,
             item: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Ratings 1–5: mean 3.45 + user bias + item bias (popular items a bit better) + taste
    affinity (standardised) + noise, rounded and clipped."""
    affinity = np.einsum("nt,nt->n", theta[user], phi[item])
    z_aff = (affinity - affinity.mean()) / (affinity.std() + 1e-12)
    z_pop = (log_pop - log_pop.mean()) / (log_pop.std() + 1e-12)
    user_bias = rng.normal(0.0, 0.45, len(theta))
    item_bias = rng.normal(0.0, 0.35, len(phi)) + 0.15 * z_pop
    raw = 3.45 + user_bias[user] + item_bias[item] + 0.7 * z_aff + rng.normal(0.0, noise,
                                                                           len(user))
    return np.clip(np.rint(raw), 1, 5)


def generate(
    n_users: int = 1000,
    n_items: int = 500,
    n_interactions: int | None = None,
    density: float = 0.1,
    n_topics: int = 8,
    seed: int = 0,
    explicit: bool = True,
    *,
    popularity_exponent: float = 0.9,
    activity_exponent: float = 0.5,
    taste_strength: float = 2.0,
    min_per_user: int = 5,
    rating_noise: float = 0.7,
    span_days: int = 730,
    name: str = "synthetic",
) -> Dataset:
    """A synthetic dataset with planted topic structure (deterministic for a ``seed``).

    ``n_interactions`` (default ``density · n_users · n_items``, i.e. 50 000) is met
    exactly: per-user counts follow a power law (``activity_exponent``) with at
    least ``min_per_user`` and at most half the items each (where the total allows), item
    popularity a Zipf law (``popularity_exponent``);
    ``taste_strength`` sets how much tastes outweigh popularity. There are no duplicate
    (user, item) pairs. ``explicit=False`` gives implicit feedback (value 1). IDs are
    ``"u00001"`` / ``"i00001"`` and indices follow them; items never picked stay in the
    index (cold items with text). Timestamps are unix seconds from 2019-01-01 over about
    ``span_days``. Side tables: items ``item_id, title, genres, text, description`` and
    users ``user_id, gender, age_group, occupation, country``.
    """
    if not 1 <= n_topics <= len(TOPICS):
        raise ConfigError(f"n_topics must be between 1 and {len(TOPICS)}, got {n_topics}")
    if n_users < 1 or n_items < 1:
        raise ConfigError(f"n_users and n_items must be >= 1, got {n_users} and {n_items}")
    total = round(density * n_users * n_items) if n_interactions is None else n_interactions
    if not 1 <= total <= n_users * n_items:
        raise ConfigError(f"n_interactions must be between 1 and n_users · n_items = "
                          f"{n_users * n_items}, got {total}")
    rng = np.random.default_rng(seed)
    users = _users_table(n_users, rng)
    theta = _tastes(users, n_topics, rng)
    phi = _item_topics(n_items, n_topics, rng)
    log_pop = np.log(_zipf_weights(n_items, popularity_exponent, rng))
    cap = min(n_items, max((n_items + 1) // 2, -(-total // n_users)))  # at most half, if it fits
    counts = _allocate(_zipf_weights(n_users, activity_exponent, rng), total,
                       low=min(min_per_user, total // n_users), cap=cap)
    user, item = _choose_items(log_pop, theta, phi, counts, taste_strength, rng)
    shuffle = np.lexsort((rng.random(len(user)), user))  # a random order within each user
    user, item = user[shuffle], item[shuffle]
    timestamp = _timestamps(user, counts, span_days * 86_400, rng)
    value = (_ratings(theta, phi, log_pop, user, item, rating_noise, rng) if explicit
             else np.ones(len(user)))
    log_order = np.lexsort((user, timestamp))  # rows as a time-ordered log
    items = _items_table(phi, rng)
    return Dataset(
        user=user[log_order], item=item[log_order], value=value[log_order],
        timestamp=timestamp[log_order],
        user_index=IdIndex(users["user_id"].to_numpy()),
        item_index=IdIndex(items["item_id"].to_numpy()),
        items=items, users=users, explicit=explicit,
        rating_scale=(1.0, 5.0) if explicit else None, name=name,
        public_catalogue=True,  # the generated item table is the catalogue
    )


def to_files(ds: Dataset, directory: str | Path) -> dict[str, Path]:
    """Write ``interactions.csv`` (``user_id,item_id,rating,timestamp``; no rating column
    for implicit data), and ``items.csv`` / ``users.csv`` when the side tables exist.

    Returns ``{"interactions": path, "items": path, "users": path}`` for what was written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    frame = ds.to_frame()
    if not ds.explicit:
        frame = frame.drop(columns="rating")
    tables = {"interactions": frame, "items": ds.items, "users": ds.users}
    written: dict[str, Path] = {}
    for key, table in tables.items():
        if table is not None:
            written[key] = directory / f"{key}.csv"
            table.to_csv(written[key], index=False)
    return written


def to_movielens_100k(ds: Dataset, directory: str | Path, seed: int = 0) -> Path:
    """Write ``ds`` in the MovieLens-100K layout (``u.data``, ``u.item``, ``u.genre``,
    ``u.user`` and the five folds ``u1.base``/``u1.test`` … ``u5``), so that every command
    documented for ml-100k can run on synthetic data.

    IDs become 1-based integers in index order; ratings are rounded into 1–5; a user's age
    is the lower bound of their age group; the folds split the ratings at random (``seed``)
    into five disjoint test parts, as ML-100K's do. Returns the folder.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ratings = np.clip(np.rint(ds.value), 1, 5).astype(np.int64)
    stamps = ds.timestamp if ds.timestamp is not None else np.zeros(len(ds), dtype=np.int64)
    rows = pd.DataFrame({"u": ds.user + 1, "i": ds.item + 1, "r": ratings, "t": stamps})
    rows.to_csv(directory / "u.data", sep="\t", header=False, index=False)
    fold = np.random.default_rng(seed).permutation(len(rows)) % 5
    for k in range(5):
        for part, keep in (("base", fold != k), ("test", fold == k)):
            rows[keep].to_csv(directory / f"u{k + 1}.{part}", sep="\t", header=False,
                              index=False)
    items = ds.items.set_index("item_id").reindex(ds.item_index.ids) if ds.items is not None \
        else pd.DataFrame(index=ds.item_index.ids)
    titles = items["title"].fillna("") if "title" in items else pd.Series("", index=items.index)
    genre_lists = (items["genres"].fillna("") if "genres" in items
                   else pd.Series("", index=items.index)).str.split("|")
    names = ["unknown", *sorted({g for gs in genre_lists for g in gs if g})]
    flags = np.array([[int(g in gs) for g in names] for gs in genre_lists], dtype=np.int64)
    flags[:, 0] = flags[:, 1:].sum(axis=1) == 0
    item_rows = pd.DataFrame({"id": np.arange(1, ds.n_items + 1), "title": titles.to_numpy(),
                              "date": "", "video": "", "url": ""})
    item_rows = pd.concat([item_rows, pd.DataFrame(flags, columns=names)], axis=1)
    item_rows.to_csv(directory / "u.item", sep="|", header=False, index=False,
                     encoding="latin-1", errors="replace")
    (directory / "u.genre").write_text(
        "".join(f"{name}|{code}\n" for code, name in enumerate(names)) + "\n")
    users = ds.users.set_index("user_id").reindex(ds.user_index.ids) if ds.users is not None \
        else pd.DataFrame(index=ds.user_index.ids)
    age = (users["age_group"].astype(str).str.extract(r"(\d+)")[0].fillna("30")
           if "age_group" in users else pd.Series("30", index=users.index))
    user_rows = pd.DataFrame({
        "id": np.arange(1, ds.n_users + 1), "age": age.to_numpy(),
        "gender": users["gender"].fillna("M").to_numpy() if "gender" in users else "M",
        "occupation": (users["occupation"].fillna("other").to_numpy()
                       if "occupation" in users else "other"),
        "zip": "00000"})
    user_rows.to_csv(directory / "u.user", sep="|", header=False, index=False)
    return directory
