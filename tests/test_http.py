"""The service over real HTTP on loopback: gradio_client, the JSON endpoint and its schema, the FastAPI mount."""

from __future__ import annotations

from dataclasses import fields

import httpx
import pytest
from gradio_client import Client

from qa import Hit
from qa.surfaces.web import create_app
from tests.live import load_example, serving_app

pytestmark = pytest.mark.slow

QUESTION = "横沥镇有多少名党员？"
ANSWER = "全镇共有党员1724名"
HIT_FIELDS = {f.name for f in fields(Hit)}


@pytest.fixture(scope="module")
def app_url(real_service):
    with serving_app(create_app(real_service)) as url:
        yield url


def test_gradio_client_gets_structured_hits_from_the_named_endpoint(app_url):
    result = Client(app_url + "/", verbose=False).predict(QUESTION, 3, api_name="/ask")
    assert result["question"] == QUESTION and result["error"] is None
    assert len(result["hits"]) == 3 and ANSWER in result["hits"][0]["text"]
    assert all(HIT_FIELDS <= set(h) for h in result["hits"])


def test_gradio_client_can_limit_the_search_to_documents_as_the_readme_shows(app_url):
    from tests.conftest import DEVELOPMENT

    client = Client(app_url + "/", verbose=False)
    result = client.predict(QUESTION, 3, [DEVELOPMENT], api_name="/ask")
    assert result["error"] is None and result["hits"]
    assert {h["document"] for h in result["hits"]} == {DEVELOPMENT}
    missing = client.predict(QUESTION, 3, ["missing.txt"], api_name="/ask")
    assert "missing.txt" in missing["error"] and missing["hits"] == []


def test_json_endpoint_answers_with_the_cli_fields(app_url):
    response = httpx.post(f"{app_url}/api/ask", json={"question": QUESTION, "top_k": 2}, timeout=60)
    assert response.status_code == 200
    body = response.json()
    assert body["question"] == QUESTION and len(body["hits"]) == 2
    assert HIT_FIELDS <= set(body["hits"][0]) and ANSWER in body["hits"][0]["text"]
    assert body["hits"][0]["score"] >= body["hits"][1]["score"]
    default = httpx.post(f"{app_url}/api/ask", json={"question": QUESTION}, timeout=60).json()
    assert len(default["hits"]) == 5


@pytest.mark.parametrize("payload, status", [
    ({"question": "   "}, 400), ({"question": QUESTION, "top_k": 0}, 422), ({"question": QUESTION, "top_k": 101}, 422),
    ({"top_k": 3}, 422), ({"question": QUESTION, "top_k": "many"}, 422),
])
def test_json_endpoint_rejects_bad_requests_with_a_reason(app_url, payload, status):
    response = httpx.post(f"{app_url}/api/ask", json=payload, timeout=60)
    assert response.status_code == status
    assert response.json()["detail"]


def test_json_endpoint_schema_is_in_the_openapi_document(app_url):
    spec = httpx.get(f"{app_url}/openapi.json", timeout=30).json()
    operation = spec["paths"]["/api/ask"]["post"]
    request_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    response_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schemas = spec["components"]["schemas"]
    request, response = schemas[request_ref.rsplit("/", 1)[1]], schemas[response_ref.rsplit("/", 1)[1]]
    assert set(request["properties"]) == {"question", "top_k", "documents"} and request["required"] == ["question"]
    assert request["properties"]["top_k"]["maximum"] == 100
    assert {"question", "hits", "confident"} <= set(response["properties"])
    hit_schema = schemas[response["properties"]["hits"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert HIT_FIELDS <= set(hit_schema["properties"])
    assert "400" in operation["responses"] and "503" in operation["responses"]


def test_the_page_is_served_at_the_root(app_url):
    response = httpx.get(app_url + "/", timeout=30)
    assert response.status_code == 200 and "文档问答" in response.text


def test_mounted_into_a_host_fastapi_app(real_service):
    app = load_example("mount_fastapi").make_app(real_service)
    with serving_app(app) as url:
        assert httpx.get(url + "/", timeout=30).json()["message"].startswith("My app")
        result = Client(url + "/qa/", verbose=False).predict(QUESTION, 1, api_name="/ask")
        assert ANSWER in result["hits"][0]["text"]
