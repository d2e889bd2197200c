"""Candidate pools and their descriptions (evidence, demotion) on hand-made mentions."""

from collections import Counter

from medcode.about import CM, FAMILY
from medcode.candidates import CandidatePool, Link, _gather_links
from medcode.features import _LINK_COLUMNS, FEATURES, _link_values
from medcode.mentions import Mention
from medcode.nlp.matcher import CodeHit
from medcode.suggestions import describe

_LINK_NAMES = [FEATURES[j] for j in _LINK_COLUMNS]


def mention(code, text, start, source="engine", status=frozenset(), rank=0, sentence=0):
    return Mention(start, start + len(text), text, len(text.split()), sentence, CM,
                   (CodeHit(code, CM, source, 1.0, rank),), frozenset(status), key=text)


def pool_of(mentions, extra=()):
    links, child_links, affirmed, set_aside, stated, engine_ranks = _gather_links(CM, mentions, {})
    codes = list(links) + list(extra)
    return CandidatePool(CM, codes, links, Counter(), dict.fromkeys(codes, 0.0), dict.fromkeys(codes, -1), 1.0, {},
                         affirmed, set_aside, stated, engine_ranks)


def test_a_stated_value_sets_aside_the_categorys_other_codes():
    # "G2P1 at 33 weeks ... delivered a single liveborn infant": the engine reads Z3A.33 from the value;
    # a learned alias brings Z3A.39, the classifier Z3A.40: a pregnancy has one gestational age.
    pool = pool_of([mention("Z3A.33", "33 weeks", 10), mention("Z3A.39", "liveborn", 40, source="learned"),
                    mention("O60.14X0", "preterm labor", 20)], extra=["Z3A.40"])
    described = {c.code: c for c in describe(pool)}
    assert described["Z3A.33"].demoted is None and described["O60.14X0"].demoted is None
    assert "Z3A.33" in described["Z3A.39"].demoted and "Z3A.33" in described["Z3A.40"].demoted


def test_a_relatives_value_states_nothing_of_the_patient():
    pool = pool_of([mention("Z68.42", "BMI 45", 10, status={FAMILY})], extra=["Z68.22"])
    described = {c.code: c for c in describe(pool)}
    # The mother's BMI is no value of the patient's: it contradicts nothing (Z68.22 is set aside only
    # because the note names the category as a relative's alone), and is itself set aside as hers.
    assert "family" in described["Z68.22"].demoted and "states the value" not in described["Z68.22"].demoted
    assert "family" in described["Z68.42"].demoted


def test_without_a_stated_value_the_category_is_left_to_the_ranker():
    pool = pool_of([mention("Z3A.39", "liveborn", 40, source="learned")], extra=["Z3A.40"])
    assert all(c.demoted is None for c in describe(pool))


def test_links_keep_their_mention():
    m = mention("J18.9", "pneumonia", 0)
    pool = pool_of([m])
    assert pool.links["J18.9"] == [Link(m, m.hits[0], 1)]


def test_the_engines_rank_within_a_category_tells_a_conditions_first_code_from_a_runner_up():
    # "Hypertensive heart and CKD with HF, CKD stage 4": the sentence's ranks put the heart failure's near miss
    # (I50.21) before the first code of the kidney disease (N18.4); within their categories N18.4 is first.
    pool = pool_of([mention("I50.23", "acute on chronic systolic HF", 0, rank=0),
                    mention("I13.0", "hypertensive heart and CKD with HF", 30, rank=1),
                    mention("I50.21", "systolic HF", 40, rank=2),
                    mention("N18.4", "CKD stage 4", 70, rank=3),
                    mention("N18.9", "CKD", 70, rank=2, sentence=1)])
    assert pool.category_rank(0, "N18.4", 3) == 0 and pool.category_rank(0, "I50.21", 2) == 1
    assert pool.category_rank(0, "I50.23", 0) == 0
    row = dict(zip(_LINK_NAMES, _link_values(pool.links["N18.4"], "N18.4", 100, {}, (0.1, 0), pool)))
    assert row["engine_rank"] == 3 and row["engine_category_rank"] == 0
    row = dict(zip(_LINK_NAMES, _link_values(pool.links["I50.21"], "I50.21", 100, {}, (0.1, 0), pool)))
    assert row["engine_category_rank"] == 1
