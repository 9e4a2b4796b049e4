"""The service with a fake embedder: building, freshness, asking, errors."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from qa import Hit, QAError, Service, Settings
from tests.conftest import FakeEmbedder, first_use


def test_build_then_ask_returns_hit_dataclasses(folders, fake_embedder, store):
    service = Service(*folders, embedder=fake_embedder, store=store)
    report = service.build()
    assert report.built and report.documents == 2 and report.passages > 10
    hits = service.ask("截止2010年9月底,全镇共有基层党党支部154个", top_k=3)
    assert len(hits) == 3 and all(isinstance(h, Hit) for h in hits)
    assert "全镇共有基层党党支部154个" in hits[0].text
    assert hits[0].score >= hits[1].score >= hits[2].score
    best = hits[0]
    assert best.title == "根基扎牢 枝繁叶茂" and best.date == "2016-12-19"
    assert best.document == "hengli-2016-party-building.txt"
    source_text = (folders[0] / best.document).read_text(encoding="utf-8").replace("\r\n", "\n")
    assert source_text[best.start : best.end] == best.text


def test_index_is_reused_until_data_or_model_changes(folders, fake_embedder, store):
    data, index = folders
    Service(data, index, embedder=fake_embedder, store=store).build()
    calls = fake_embedder.calls
    again = Service(data, index, embedder=fake_embedder, store=store).build()
    assert not again.built and fake_embedder.calls == calls

    (data / "extra.txt").write_text("新文档\n横沥镇今年新建了三座图书馆，方便群众读书学习。\n", encoding="utf-8")
    changed = Service(data, index, embedder=fake_embedder, store=store).build()
    assert changed.built and changed.reason == "documents changed: 1 new, 0 changed, 0 removed"
    assert not changed.full and changed.read == 1

    other = FakeEmbedder()
    other.name = "another-model"
    report = Service(data, index, embedder=other, store=store).build()
    assert report.built and report.full and "another-model" in report.reason


def test_a_new_build_replaces_the_old_one_completely(folders, fake_embedder):
    data, index = folders
    service = Service(data, index, embedder=fake_embedder)
    service.build()
    (data / "hengli-2016-party-building.txt").unlink()
    service.build()
    assert len(list(index.glob("build-*"))) == 1
    hits = service.ask("全镇共有基层党党支部154个", top_k=20)
    assert all(h.document != "hengli-2016-party-building.txt" for h in hits)


def test_empty_question_is_a_clear_error(folders, fake_embedder, store):
    service = Service(*folders, embedder=fake_embedder, store=store)
    for question in ["", "   ", "\n\t"]:
        with pytest.raises(QAError, match="question"):
            service.ask(question)


def test_damaged_or_mismatched_index_is_reported(folders, fake_embedder):
    data, index = folders
    Service(data, index, embedder=fake_embedder).build()
    manifest = index / "manifest.json"
    good = manifest.read_text()

    manifest.write_text(good[: len(good) // 2])
    with pytest.raises(QAError, match="rebuild"):
        Service(data, index, embedder=fake_embedder).ask("党员")

    # valid JSON that is not a manifest, or whose fields are not what they must be
    for damaged in ["null", "[]", '"x"', "1", {"build": None}, {"passages": "7"}, {"build": "../../etc"},
                    {"files": None}]:
        edited = damaged if isinstance(damaged, str) else json.dumps({**json.loads(good), **damaged})
        manifest.write_text(edited)
        with pytest.raises(QAError, match="rebuild"):
            Service(data, index, embedder=fake_embedder).ask("党员")

    wrong = json.loads(good)
    wrong["passages"] += 1
    manifest.write_text(json.dumps(wrong))
    with pytest.raises(QAError, match="do not match"):
        Service(data, index, embedder=fake_embedder).ask("党员")

    # file checks that are missing: the build cannot be trusted, so it is built again
    manifest.write_text(json.dumps({**json.loads(good), "files": {}}))
    report = Service(data, index, embedder=fake_embedder).build()
    assert report.built and "the file checks are missing" in report.reason

    # --rebuild recovers
    Service(data, index, embedder=fake_embedder).build(force=True)
    assert Service(data, index, embedder=fake_embedder).ask("党员")


def test_missing_data_folder_or_no_documents(tmp_path, fake_embedder, store):
    with pytest.raises(QAError, match="does not exist"):
        first_use(Service(tmp_path / "nope", tmp_path / "index", embedder=fake_embedder, store=store))
    (tmp_path / "empty").mkdir()
    with pytest.raises(QAError, match="No readable documents"):
        first_use(Service(tmp_path / "empty", tmp_path / "index", embedder=fake_embedder, store=store))


def test_boilerplate_lines_are_not_passages(folders, fake_embedder, store):
    service = Service(*folders, embedder=fake_embedder, store=store)
    service.build()
    for furniture in ["Copyright ©驰越文化传媒 版权所有", "您的当前位置:主页 > 地区专栏", "联系我们 - 广告服务", "暂无评论 赞助推荐"]:
        for hit in service.ask(furniture, top_k=5):
            for marker in ["Copyright", "当前位置", "广告服务", "暂无评论", "赞助推荐", "ICP备"]:
                assert marker not in hit.text


def test_hit_fields_are_the_json_contract():
    assert [f.name for f in fields(Hit)][:3] == ["text", "score", "document"]
    assert {"title", "source", "date", "position", "start", "end"} <= {f.name for f in fields(Hit)}


def test_a_passage_prompt_set_by_hand_names_another_index(tmp_path):
    plain = Service(tmp_path / "data", tmp_path / "index").model
    prompted = Service(tmp_path / "data", tmp_path / "index", settings=Settings(passage_prompt="passage: ")).model
    assert prompted != plain and "passage: " in prompted  # so the index is rebuilt with the new prompt


def test_warm_up_opens_the_index_and_runs_the_model_once(service, fake_embedder):
    before = fake_embedder.calls
    service.warm_up()
    assert fake_embedder.calls == before + 1 and service.open().manifest.passages > 0


def test_a_service_takes_no_settings_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_READER", "off")
    monkeypatch.setenv("QA_STORE", f"milvus:{tmp_path / 'elsewhere.db'}")
    service = Service(tmp_path / "data", tmp_path / "index")
    assert service.settings == Settings() and service.settings.reader  # programs pass Settings.from_env()


def test_an_index_of_the_format_before_is_built_again_not_called_damaged(folders, fake_embedder):
    data, index = folders
    Service(data, index, embedder=fake_embedder).build()
    manifest = json.loads((index / "manifest.json").read_text())
    old = {**manifest, "format_version": 5, "files": {name: {"bytes": 1, "blake2b": "00"} for name in manifest["files"]}}
    (index / "manifest.json").write_text(json.dumps(old))
    report = Service(data, index, embedder=fake_embedder).build()
    assert report.built and report.full and "index format changed (5 -> 6)" in report.reason
