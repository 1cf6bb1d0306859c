"""ModelId: what counts as one model, and that ids serve as cache keys (plain pytest, no AppTest)."""

import dataclasses

import app_helpers  # noqa: F401  (puts the repository root on sys.path)
import pytest
import streamlit as st

from pages._app.models import SHIPPED_ID, UNTRAINED_ID, ModelId


def test_two_snapshots_of_one_run_are_one_model():
    first, later = ModelId.of_snapshot("abc123", 1), ModelId.of_snapshot("abc123", 7)
    assert first != later, "each snapshot has an id of its own: its views differ"
    assert first.same_model_as(later) and later.same_model_as(first)
    assert first.of_run("abc123") and not first.of_run("other")


def test_different_runs_uploads_and_defaults_are_different_models():
    run = ModelId.of_snapshot("abc123", 1)
    upload = ModelId.of_upload("abc123")  # the same key, another kind
    assert not run.same_model_as(upload) and run != upload
    assert not run.same_model_as(ModelId.of_snapshot("def456", 1))
    assert not upload.same_model_as(ModelId.of_upload("0123456789abcdef"))
    assert upload.same_model_as(ModelId.of_upload("abc123"))
    assert not SHIPPED_ID.same_model_as(UNTRAINED_ID) and not SHIPPED_ID.same_model_as(upload)
    assert not upload.of_run("abc123")


def test_ids_are_frozen_and_checked():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SHIPPED_ID.snapshot = 3
    with pytest.raises(ValueError, match="unknown model kind"):
        ModelId("job", "abc123")


def test_ids_are_hashable_and_key_caches():
    ids = [ModelId.of_snapshot("abc123", 1), ModelId.of_snapshot("abc123", 2), ModelId.of_upload("abc123")]
    assert len({*ids, ModelId.of_snapshot("abc123", 1)}) == 3
    assert {ids[0]: "first"}[ModelId("run", "abc123", 1)] == "first"

    calls = []

    @st.cache_data(show_spinner=False)
    def view(model_id: ModelId) -> str:
        calls.append(model_id)
        return f"{model_id.kind}:{model_id.key}:{model_id.snapshot}"

    for model_id in ids + [ModelId("run", "abc123", 1), ModelId.of_upload("abc123")]:
        view(model_id)
    assert calls == ids, "an equal id is a cache hit; another snapshot or kind is not"
    view.clear()
