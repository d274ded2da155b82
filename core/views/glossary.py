"""Plain-language meanings of every technical word the dashboard uses.

One source for the Glossary page and for the ``help=`` tooltips beside widgets and
numbers, so a term reads the same everywhere. Each entry has a one-line ``short``
meaning (a tooltip) and a longer ``plain`` reading for a coach or analyst.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl


@dataclass(frozen=True)
class Term:
    """One glossary entry."""

    name: str  # as shown, e.g. "BIC"
    short: str  # one line, for a tooltip
    plain: str  # a few sentences, for the Glossary page
    topic: str  # "data", "model", "states", "statistics", "football"
    aliases: tuple[str, ...] = ()  # other spellings that find this entry


def _t(name: str, topic: str, short: str, plain: str, *aliases: str) -> Term:
    return Term(name=name, short=short, plain=plain, topic=topic, aliases=aliases)


TERMS: Final[tuple[Term, ...]] = (
    # --- football -----------------------------------------------------------------------
    _t(
        "PPDA",
        "football",
        "Passes allowed per defensive action: opponent passes in their build-up zone divided "
        "by our tackles, interceptions and fouls there. Lower = more intense pressing.",
        "Passes per defensive action. Count the passes the opponent plays in the part of the "
        "pitch where we try to win the ball back (its first 60%, seen from us), and divide by "
        "our tackles, interceptions, duels and fouls there. A low PPDA (say 6) means we let "
        "them string few passes together before we engage: an intense press. A high PPDA "
        "(15+) means we sit off.",
        "passes per defensive action",
    ),
    _t(
        "Score state",
        "football",
        "The team's goal difference when the segment starts: trailing, level or leading.",
        "How the game stood for the team when the segment began: behind (trailing), level or "
        "ahead (leading), counting goals and own goals before that moment. Teams play "
        "differently when chasing a game than when protecting a lead, so the sidebar's "
        "score-state filter lets you compare like with like.",
        "score_state",
        "game state",
    ),
    _t(
        "Field tilt",
        "football",
        "Our share of the touches in the final third, out of both teams' final-third touches. "
        "Higher = play pinned in the opponent's half.",
        "Of all the touches either team had in its attacking third, the share that were ours. "
        "A field tilt of 0.7 means 70% of the final-third play happened at their end: we "
        "pinned them back. It reads territory, not possession.",
        "field_tilt",
    ),
    _t(
        "xG",
        "football",
        "Expected goals: the chance a shot is scored, from StatsBomb's model (0-1 per shot).",
        "Expected goals. StatsBomb rates every shot by how often similar shots (distance, "
        "angle, body part, defenders) are scored. Summed over shots it says how many goals the "
        "chances were worth.",
        "expected goals",
    ),
    _t(
        "Segment",
        "data",
        "A slice of one team's play in one match: a fixed window (e.g. 5 minutes) or one "
        "possession. Every number is computed per segment.",
        "The unit everything is measured on: one team's play over a short stretch of one "
        "match. Windows are fixed slices of match time (they may overlap); possessions follow "
        "the ball. A 90-minute match gives each team a few dozen windows.",
        "window",
        "windows",
        "segments",
    ),
    _t(
        "Tier",
        "data",
        "How a feature is measured: tier 1 counts events, tier 2 uses where events happen, "
        "tier 3 needs 360 freeze frames (player positions).",
        "Features come in three tiers. Tier 1 (t1_): counts and rates of events (passes, "
        "pressures). Tier 2 (t2_): where events happen on the pitch (PPDA, field tilt, pass "
        "length). Tier 3 (t3_): the shape of the team from StatsBomb 360 freeze frames "
        "(defensive line height, width); empty for matches without 360 data.",
        "tiers",
    ),
    _t(
        "360 freeze frame",
        "data",
        "StatsBomb 360: the visible players' positions at each event. Only some matches have it.",
        "For some matches StatsBomb records, at every event, where the players in the "
        "broadcast picture stood. Tier 3 features (team shape) are computed from these "
        "frames; they show about a quarter of the pitch, so each feature states how much was "
        "visible.",
        "360",
        "freeze frame",
    ),
    # --- the model ----------------------------------------------------------------------
    _t(
        "beta-VAE",
        "model",
        "The neural network that compresses each segment's features into a few numbers "
        "(latent dimensions), pushed to keep them independent and readable.",
        "A variational autoencoder with a weight beta on its simplicity term. It learns to "
        "squeeze each segment's ~60 features into a handful of numbers and back. A higher "
        "beta pushes those numbers to be independent of each other, which makes them easier "
        "to read as separate tactical ideas, at the cost of a blurrier reconstruction.",
        "VAE",
        "beta VAE",
        "β-VAE",
    ),
    _t(
        "beta",
        "model",
        "The weight on the KL (simplicity) term: higher beta = fewer, more independent "
        "dimensions, blurrier reconstruction.",
        "How hard the model is pushed towards simple, independent dimensions. With too high a "
        "beta most dimensions switch off (they carry nothing); too low and they blur "
        "together. The Sweep page tries several values.",
        "β",
    ),
    _t(
        "Latent dimension",
        "model",
        "One of the few numbers the model describes a segment with (z0, z1, ...); each ideally "
        "reads as one tactical idea, like 'how high the press'.",
        "The model's own summary axes. Every segment gets a value on each (its position in "
        "latent space). The Interpretation page shows which features move with each one, so "
        "you can name it: 'z0 = how much of the ball', 'z1 = how direct'.",
        "latent",
        "latents",
        "latent space",
        "z",
        "dimension",
    ),
    _t(
        "Distinct dimension",
        "model",
        "A latent dimension that carries its own information: active and not a copy of "
        "another. Only distinct dimensions are used for states and distances.",
        "Each dimension is checked: inactive ones (collapsed, carrying nothing) and redundant "
        "ones (a near copy of another) are hidden by default. The distinct ones are the "
        "model's real findings.",
        "distinct",
        "redundant",
        "inactive",
        "collapsed",
    ),
    _t(
        "Posterior",
        "model",
        "The model's reading of one segment: where in latent space it puts it (the posterior "
        "mean) and how sure it is (its spread).",
        "For each segment the encoder gives a best guess of its latent position (the "
        "posterior mean, used everywhere in the app) and an uncertainty. 'Posterior' is the "
        "statistician's word for 'what we believe after seeing the data'.",
        "posterior mean",
    ),
    _t(
        "KL",
        "model",
        "Kullback-Leibler divergence: how much information a latent dimension carries. Near 0 "
        "= the dimension is switched off (inactive).",
        "The model's 'simplicity' cost, per dimension. A dimension whose KL is close to zero "
        "says the same thing about every segment: it is switched off. A healthy run has a few "
        "dimensions with clearly positive KL.",
        "KL divergence",
        "Kullback-Leibler",
    ),
    _t(
        "Reconstruction error",
        "model",
        "How far the model's rebuilt features are from the real ones (lower = it keeps more "
        "detail).",
        "The model squeezes a segment into a few numbers and rebuilds its features from them; "
        "the error says how much was lost. Compared with PCA on the Overview page.",
        "recon",
        "reconstruction",
    ),
    _t(
        "PCA",
        "model",
        "Principal component analysis: the classic straight-line summary of the features, the "
        "baseline the model is compared with.",
        "A simple, linear way to summarise many features in a few axes. If the VAE is not "
        "clearly better or more readable than PCA, its dimensions add little.",
        "principal components",
    ),
    _t(
        "Active units",
        "model",
        "Latent dimensions whose values really vary across segments (not collapsed).",
        "Counts the dimensions that are in use. A dimension whose value barely changes from "
        "segment to segment is inactive.",
        "active",
    ),
    _t(
        "Reading axes",
        "model",
        "The distinct dimensions turned (varimax) so each lines up with as few features as "
        "possible: easier to name, same information.",
        "The model's axes can point in any direction; the app rotates the distinct ones so "
        "each tracks a small group of features (a varimax rotation, anchored on the main "
        "axis: the direction of the codes that best predicts the features' first principal "
        "component). Nothing is lost: the rotation can be undone.",
        "varimax",
        "rotation",
    ),
    _t(
        "Traversal",
        "model",
        "Walk along one latent dimension while holding the others still, and read how the "
        "decoded features change: what the dimension means.",
        "Take an average segment, move it along one dimension, and let the model rebuild the "
        "features at each step. The features that change most are what the dimension "
        "means.",
        "latent traversal",
    ),
    # --- states -------------------------------------------------------------------------
    _t(
        "Tactical state",
        "states",
        "A recurring pattern of play found by grouping segments that sit close together in "
        "latent space; labelled by the features that set it apart.",
        "The app groups segments into a few states with a Gaussian mixture (GMM) on the "
        "distinct latent dimensions. Each state is labelled with what sets it apart, e.g. "
        "'high field tilt, more of the ball'.",
        "state",
        "states",
        "GMM",
        "mixture",
    ),
    _t(
        "BIC",
        "states",
        "Bayesian information criterion: picks how many states to use. Lower is better; it "
        "penalises adding states that explain little.",
        "Used to choose the number of states. Each extra state fits the data a bit better but "
        "costs complexity; BIC balances the two and the number with the lowest BIC wins.",
        "Bayesian information criterion",
    ),
    _t(
        "Silhouette",
        "states",
        "How well separated the states are, from -1 to 1: near 1 = clear groups, near 0 = "
        "overlapping.",
        "For each segment, compare its distance to its own state with the distance to the "
        "nearest other state. Averaged: 0.5+ is clear structure, 0.2 or less means the states "
        "blend into each other.",
        "silhouette score",
    ),
    _t(
        "ARI",
        "states",
        "Adjusted Rand index: how much two groupings agree, 0 = chance, 1 = identical.",
        "Compares two ways of sorting the same segments into groups, corrected for luck. The "
        "States page uses it to compare states found in latent space with states found "
        "directly on the features.",
        "adjusted Rand index",
    ),
    _t(
        "HMM",
        "states",
        "Hidden Markov model: smooths the timeline by assuming a team's state tends to "
        "persist from one window to the next.",
        "Treats each window's state as a noisy reading of a hidden state that changes only "
        "now and then. Smoothing removes one-window flickers and learns how likely each "
        "state is to follow another.",
        "hidden Markov model",
        "smoothing",
    ),
    _t(
        "Fingerprint",
        "states",
        "A team's share of windows in each state and its mean latent position: how it "
        "usually plays.",
        "Summarises a team (or a team in one match) by how its time splits between the "
        "states. Compare two teams, or find a team's segments most like another's.",
        "team fingerprint",
    ),
    # --- statistics ---------------------------------------------------------------------
    _t(
        "z-scored",
        "statistics",
        "Expressed in standard deviations from the average: 0 = average, +2 = well above, "
        "-2 = well below.",
        "A value minus the average of all segments, divided by the standard deviation (sd). "
        "It puts features with different units (passes per minute, yards) on one scale.",
        "z-score",
        "standardised",
    ),
    _t(
        "sd",
        "statistics",
        "Standard deviation: the typical distance of a value from the average.",
        "How spread out a quantity is. About two thirds of segments lie within one sd of the "
        "average.",
        "standard deviation",
        "std",
    ),
    _t(
        "Pearson r",
        "statistics",
        "Correlation from -1 to 1: how closely two quantities move together in a straight "
        "line. |r| above 0.5 is strong.",
        "Positive r: when the latent dimension is high, the feature tends to be high. "
        "Negative: the opposite. Near 0: no straight-line link.",
        "r",
        "correlation",
        "Pearson",
    ),
    _t(
        "Spearman",
        "statistics",
        "Rank correlation: like Pearson r but on the order of values, so it also catches "
        "curved, one-directional links and ignores outliers.",
        "Correlates the ranks of the values instead of the values.",
        "Spearman rho",
    ),
    _t(
        "p-value",
        "statistics",
        "How surprising a correlation would be if there were no link at all. Small (below "
        "0.05) = unlikely to be chance. Shown as '< 0.001' when tiny.",
        "With thousands of segments even weak links get tiny p-values, so read the size of r "
        "first and the p-value second.",
        "p",
        "significance",
    ),
    _t(
        "Multiple-testing correction",
        "statistics",
        "Benjamini-Hochberg or Bonferroni: raises p-values when many correlations are tested "
        "at once, so chance hits are not taken as findings.",
        "Testing hundreds of latent-feature pairs will turn up some small p-values by luck. "
        "Bonferroni is strict; Benjamini-Hochberg (BH) controls the share of false findings.",
        "BH",
        "Benjamini-Hochberg",
        "Bonferroni",
        "FDR",
    ),
    _t(
        "Effect size",
        "statistics",
        "A difference of means in standard deviations: |effect| of 0.5 is a clear difference, "
        "0.2 a small one, 1 or more a large one.",
        "How far one group (a state, a selection of segments) sits from the others on a "
        "feature, in units of the feature's spread, so features in different units compare. "
        "The selection contrast tests it with Welch's t-test.",
        "effect",
        "standardised difference",
        "Welch",
        "Welch's t-test",
    ),
    _t(
        "UMAP",
        "statistics",
        "A 2-D map of the latent space: segments that are close in the model stay close on "
        "the map. Distances between far-apart groups are not meaningful.",
        "Uniform manifold approximation and projection: flattens the few latent dimensions "
        "into a picture you can click. Neighbourhoods are faithful; the map's axes have no "
        "meaning of their own.",
        "map",
        "latent map",
    ),
    _t(
        "Jaccard",
        "statistics",
        "Overlap of two sets, 0 to 1: shared items divided by all items. Used to compare the "
        "top-5 features of a dimension across seeds.",
        "If two runs name the same 5 features for a dimension, Jaccard is 1; if they share 2 "
        "of 8 distinct names, it is 0.25.",
        "Jaccard index",
    ),
    _t(
        "Hungarian matching",
        "statistics",
        "Pairs each dimension of one run with its best partner in another (signs allowed to "
        "flip), so runs with different seeds can be compared.",
        "Two trainings with different seeds find similar dimensions in a different order and "
        "sign. The Hungarian algorithm finds the one-to-one pairing with the highest total "
        "correlation.",
        "Hungarian",
        "matched dimensions",
    ),
    _t(
        "Seed",
        "statistics",
        "The random starting point of a training. A finding that survives other seeds is "
        "real; one that does not is luck.",
        "The Stability page retrains the model with other seeds and checks that each "
        "dimension means the same thing each time.",
        "seeds",
        "stability",
        "random_state",
    ),
)


def _key(text: str) -> str:
    return text.strip().lower().replace("_", " ").replace("-", " ")


_INDEX: Final[dict[str, Term]] = {
    _key(alias): term for term in TERMS for alias in (term.name, *term.aliases)
}


def term(name: str) -> Term:
    """The entry for ``name`` or one of its aliases (case and ``-``/``_`` ignored)."""
    try:
        return _INDEX[_key(name)]
    except KeyError:
        raise KeyError(
            f"No glossary entry for {name!r}; add one to core.views.glossary.TERMS."
        ) from None


def explain(*names: str, extra: str = "") -> str:
    """A tooltip: the short meaning of each term, one per line, then ``extra``."""
    lines = [f"**{term(n).name}**: {term(n).short}" for n in names]
    if extra:
        lines.append(extra)
    return "  \n".join(lines)


def glossary_frame() -> pl.DataFrame:
    """Every entry: ``term, topic, meaning, more, also`` sorted by topic then term."""
    return pl.DataFrame(
        {
            "term": [t.name for t in TERMS],
            "topic": [t.topic for t in TERMS],
            "meaning": [t.short for t in TERMS],
            "more": [t.plain for t in TERMS],
            "also": [", ".join(t.aliases) for t in TERMS],
        }
    ).sort("topic", pl.col("term").str.to_lowercase())


# The Glossary page's sections, in order: topic -> heading.
TOPICS: Final[dict[str, str]] = {
    "football": "Football",
    "data": "Data",
    "model": "The model",
    "states": "Tactical states",
    "statistics": "Statistics",
}


def search_glossary(query: str) -> pl.DataFrame:
    """:func:`glossary_frame`'s entries whose term, other names or meaning contain
    ``query`` (case-insensitive, literal); every entry for an empty query."""
    terms = glossary_frame()
    q = query.strip().lower()
    if not q:
        return terms
    return terms.filter(
        pl.col("term").str.to_lowercase().str.contains(q, literal=True)
        | pl.col("also").str.to_lowercase().str.contains(q, literal=True)
        | pl.col("meaning").str.to_lowercase().str.contains(q, literal=True)
    )
