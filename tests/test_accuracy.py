"""Accuracy of the grammar and the rule baseline on the annotated real documents.

These are the acceptance figures of issue "Foundation", computed with the
scorer in ../shared/tools/score.py: quantity F1 >= 0.97 and value accuracy
>= 0.99 on the seed and on the narrative text of the budget documents.
"""
from __future__ import annotations

import pytest

from govmetrics_training.annotations import load_corpus
from govmetrics_training.evaluate import evaluate, select


@pytest.fixture(scope="module")
def reports():
    docs = load_corpus()
    seed = select(docs, ids={"000_0b63caf340faed07"})
    budget = select(docs, origin="real", kind="budget")
    return evaluate(seed)["all"], evaluate(budget)["all"]


def test_seed_quantities(reports):
    seed, _ = reports
    assert seed["quantity"]["f1"] >= 0.97
    assert seed["value_accuracy"] >= 0.99


def test_budget_narrative_quantities(reports):
    _, budget = reports
    assert budget["quantity"]["f1"] >= 0.97
    assert budget["value_accuracy"] >= 0.99


def test_rule_baseline_record_floor(reports):
    # Not a target: a floor that catches a broken assembler (measured 0.75 / 0.79).
    seed, budget = reports
    assert seed["record"]["f1"] >= 0.65
    assert budget["record"]["f1"] >= 0.70


V1_GENRES = ("budget", "work-report", "work-summary")


@pytest.fixture(scope="module")
def model_vs_baseline():
    from govmetrics_training.evaluate import extractor_predict, rule_predict

    # The genres govmetrics-zh-v1 was trained for; the genres annotated since (news, annual and
    # local work reports) are scored per genre by `govmetrics evaluate`, with no floor here yet.
    test = [d for d in select(load_corpus(), split="test", origin="real") if d.genre in V1_GENRES]
    return evaluate(test, extractor_predict(None))["all"], evaluate(test, rule_predict)["all"]


def test_shipped_model_on_the_real_test_split(model_vs_baseline):
    # Issue "The fine-tuned model": the shipped (int8) model, scored as the work is accepted.
    model, baseline = model_vs_baseline
    assert model["quantity"]["f1"] >= 0.97
    assert model["record"]["f1"] >= 0.85  # measured 0.891
    assert model["record"]["f1"] >= baseline["record"]["f1"] + 0.10  # measured +0.192
    assert model["ece"] is not None and model["ece"] <= 0.05
