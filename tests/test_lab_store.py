"""The lab store (llm_core/lab/store.py) and the model cache (llm_core/lab/cache.py): desks, models and
share records on disk, quotas, time-to-live, runs cut by a stopped server; only models in use in memory."""

import sqlite3
import time

import pytest
import torch
from conftest import perturbed_model

from llm_core.lab.cache import ModelCache, model_bytes
from llm_core.lab.store import LabStore, QuotaError
from llm_core.model import lineage
from llm_core.model.checkpoint import checkpoint_bytes
from llm_core.model.config import model_preset


def made(char_tok, seed: int):
    model = perturbed_model(model_preset("nano", char_tok.vocab_size), seed=seed)
    meta = {"record": {"steps": seed}, "lineage": lineage.make(model, char_tok, "pre-training", name=f"m{seed}", steps=seed),
            "tokenizer": char_tok.to_dict(), "model_config": model.config.to_dict()}
    return model, meta


def test_a_desk_and_its_models_come_back_from_disk_in_another_process_s_store(tmp_path, char_tok):
    store = LabStore(tmp_path)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    model, meta = made(char_tok, 1)
    store.create_desk("desk-one")
    store.add_model("desk-one", "first", meta["lineage"]["hash"], meta, "trained", model, char_tok)
    store.add_model("desk-one", "same weights, another name", meta["lineage"]["hash"], meta, "trained", model, char_tok)
    store.save_desk("desk-one", current="first", data={"course": {"visited": ["training"]}, "tr_settings": {"tr_layers": 2}})
    assert len(list((tmp_path / "weights").rglob("*.safetensors"))) == 1  # one file per content hash

    again = LabStore(tmp_path)  # what a restarted server opens
    desk = again.load_desk("desk-one")
    assert desk.current == "first" and desk.data == {"course": {"visited": ["training"]}, "tr_settings": {"tr_layers": 2}}
    assert [m.name for m in desk.models] == ["first", "same weights, another name"]
    loaded = again.load_model(desk.models[0].hash, desk.models[0].meta)
    assert lineage.content_hash(loaded.model, loaded.tokenizer) == meta["lineage"]["hash"]
    assert loaded.meta["lineage"]["name"] == "m1" and loaded.meta["record"] == {"steps": 1}
    assert again.load_desk("no such desk") is None


def test_quotas_refuse_a_model_with_a_message_that_says_what_to_do(tmp_path, char_tok):
    model, meta = made(char_tok, 2)
    size = len(checkpoint_bytes(model, char_tok, meta["record"], meta["lineage"])[0])
    store = LabStore(tmp_path, desk_quota_bytes=int(size * 1.5), total_quota_bytes=size * 10)
    store.create_desk("d")
    store.add_model("d", "one", meta["lineage"]["hash"], meta, "trained", model, char_tok)
    other, other_meta = made(char_tok, 3)
    with pytest.raises(QuotaError, match="over the .* a desk may keep on this server. Remove a model"):
        store.add_model("d", "two", other_meta["lineage"]["hash"], other_meta, "trained", other, char_tok)
    assert [m.name for m in store.load_desk("d").models] == ["one"]
    full = LabStore(tmp_path / "full", total_quota_bytes=size // 2)
    full.create_desk("d")
    with pytest.raises(QuotaError, match="disk space for models is full"):
        full.add_model("d", "one", meta["lineage"]["hash"], meta, "trained", model, char_tok)


def test_an_idle_desk_past_its_time_to_live_is_deleted_from_disk_with_its_weights(tmp_path, char_tok):
    store = LabStore(tmp_path)
    for desk_id, seed in (("old", 4), ("kept", 5)):
        model, meta = made(char_tok, seed)
        store.create_desk(desk_id)
        store.add_model(desk_id, "m", meta["lineage"]["hash"], meta, "trained", model, char_tok)
    old_hash = store.load_desk("old").models[0].hash
    later = time.time() + 7200
    store.save_desk("kept", seen=later)  # opened since
    assert store.expire(ttl_s=3600, now=later) == ["old"]
    assert store.load_desk("old") is None and store.load_desk("kept") is not None
    assert not store.weights_path(old_hash).exists() and store.weights_path(store.load_desk("kept").models[0].hash).exists()


def test_a_run_left_running_by_a_server_that_is_gone_is_reported_cut(tmp_path):
    first = LabStore(tmp_path)
    first.create_desk("d")
    first.run_started("d", "training", "Training 2x2x32 on tinyshakespeare", "pages/training.py")
    first.run_started("d", "assistant_sft", "Fine-tuning", "pages/assistant.py")
    first.run_ended("d", "assistant_sft")
    assert first.cut_runs("d") == []  # its own server is still running it
    restarted = LabStore(tmp_path)
    cut = restarted.cut_runs("d")
    assert [(r.key, r.label, r.state) for r in cut] == [("training", "Training 2x2x32 on tinyshakespeare", "cut")]
    restarted.run_ended("d", "training")  # dismissed
    assert restarted.cut_runs("d") == []


def test_shares_keep_the_newest_within_count_and_bytes_and_outlive_the_desk(tmp_path, char_tok):
    store = LabStore(tmp_path, max_shares=2)
    hashes = []
    for seed in (6, 7, 8):
        model, meta = made(char_tok, seed)
        h = meta["lineage"]["hash"]
        store.create_desk(f"d{seed}")
        store.add_model(f"d{seed}", "m", h, meta, "trained", model, char_tok)
        store.share(h, f"model {seed}", meta, "trained")
        hashes.append(h)
        time.sleep(0.01)
    assert store.shared(hashes[0]) is None  # the oldest of three dropped (2 kept)
    name, source, meta = store.shared(hashes[2])
    assert name == "model 8" and meta["lineage"]["hash"] == hashes[2]
    store.delete_desk("d8")
    store.delete_desk("d6")
    store.collect_weights(now=time.time() + 3600)
    assert store.has_weights(hashes[2])  # the link still keeps its copy
    assert not store.has_weights(hashes[0])  # no desk and no link: gone
    assert store.shared("not-a-hash") is None
    sqlite3.connect(tmp_path / "lab.sqlite3").execute("SELECT count(*) FROM shares").fetchone()


def test_the_cache_keeps_only_the_models_in_use_within_its_bytes(char_tok):
    models = [perturbed_model(model_preset("nano", char_tok.vocab_size), seed=s) for s in range(4)]
    each = model_bytes(models[0])
    cache = ModelCache(max_bytes=int(each * 2.5))
    loads = []
    for i, m in enumerate(models):
        cache.put(str(i), m)
    assert cache.keys() == ["2", "3"] and cache.bytes() <= cache.max_bytes
    again = cache.get("0", lambda: loads.append("0") or models[0])
    assert again is models[0] and loads == ["0"] and cache.keys() == ["3", "0"]
    assert cache.get("3", lambda: pytest.fail("a kept model is not loaded again")) is models[3]
    cache.pin("bundled", torch.nn.Linear(2, 2))
    assert "bundled" in cache and "bundled" not in cache.keys()
