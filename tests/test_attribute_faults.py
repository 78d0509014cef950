"""Issue 16, attribute pipeline: odd replies are retried, a slow reply times out as a whole, credentials in
``--base-url`` are never written, and resuming checks settings, damaged files and counts every request.
All against the fault server in ``fake_openai`` (127.0.0.1 only), through the real ``openai`` client."""
import json
import os
import re
import os.path as osp
import time

import pytest

from fake_openai import FAULTS, FakeLLM, correct_answer
from sempt.data import catalog
from trainers.attributes.__main__ import main
from trainers.attributes.llm import LLMClient, LLMError, endpoint_host, parse_retry_after, redact_url
from trainers.attributes.pipeline import generate
from trainers.attributes.store import ResumeError

PETS = catalog.classnames("OxfordPets")
STEP1 = [{"role": "user", "content": "Name exactly 2 visual attributes"}]
SLOW = ("trickle", "stall")  # need a real time-out


def client(llm, sleeps=None, **kw):
    return LLMClient("test-model", base_url=llm.url, sleep=(sleeps.append if sleeps is not None else lambda s: None),
                     **kw)


def _gen(llm, tmp_path, c=None, **kw):
    return generate(c or client(llm), "OxfordPets", PETS, "cat and dog breeds", **dict(
        dict(n_attributes=4, batch_size=10, directory=str(tmp_path)), **kw))


# --- 1. odd replies are retried like a 5xx, and what never works is one line ---------------------------------

@pytest.mark.parametrize("fault", [f for f in FAULTS if f not in SLOW])
def test_each_odd_reply_is_retried_then_succeeds(llm, fault):
    sleeps = []
    c = client(llm, sleeps)
    llm.script = [fault, None]
    assert json.loads(c.chat(STEP1))["attributes"]
    assert c.retries == 1 and len(llm.requests) == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= c.max_backoff


@pytest.mark.parametrize("fault", ["retry_after_date", "retry_after_negative", "html_200", "html_as_json", "not_utf8",
                                   "empty_choices"])
def test_each_odd_reply_that_never_stops_gives_one_line(llm, fault):
    llm.script = [fault] * 3
    with pytest.raises(LLMError) as err:
        client(llm, max_attempts=3).chat(STEP1)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"127.0.0.1:{llm.url.split(':')[2].split('/')[0]} kept failing after 3")
    cause = {"retry_after_date": "HTTP 429", "retry_after_negative": "HTTP 429", "html_200": "HTML page",
             "html_as_json": "HTML page instead of JSON (labelled as JSON", "not_utf8": "not UTF-8",
             "empty_choices": "no choices"}[fault]
    assert cause in msg and len(llm.requests) == 3


def test_retry_after_values():
    assert parse_retry_after("2.5") == 2.5 and parse_retry_after("0") == 0.0
    assert parse_retry_after("-5") is None and parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("nan") is None and parse_retry_after("inf") is None
    now = 1_800_000_000
    assert parse_retry_after("Fri, 15 Jan 2027 08:00:10 GMT", now=1_800_000_000 - 0) is not None
    import email.utils
    assert parse_retry_after(email.utils.formatdate(now + 7, usegmt=True), now=now) == 7
    assert parse_retry_after(email.utils.formatdate(now - 7, usegmt=True), now=now) == 0.0  # past date: now


def test_retry_after_date_is_honoured_and_capped(llm):
    sleeps = []
    llm.script = ["retry_after_date", "retry_after_huge", None]
    client(llm, sleeps, max_backoff=5).chat(STEP1)
    assert 0 <= sleeps[0] <= 1.0 and sleeps[1] == 5


def test_cli_prints_one_line_without_traceback(llm, tmp_path, capfd):
    llm.script = ["html_as_json"] * 10
    rc = main(["generate", "--dataset", "oxford_pets", "--base-url", llm.url, "--dir", str(tmp_path),
               "--max-attempts", "2", "--backoff", "0"])
    err = capfd.readouterr().err
    last = [line for line in re.split(r"[\r\n]", err) if "error:" in line]
    assert rc == 1 and len(last) == 1 and "Traceback" not in err
    assert "127.0.0.1" in last[0] and "HTML page instead of JSON" in last[0]


# --- 2. --timeout bounds the whole request -------------------------------------------------------------------

@pytest.mark.parametrize("fault", SLOW)
def test_a_slow_reply_times_out_as_a_whole_and_is_retried(llm, fault):
    llm.script = [fault, None]
    c = client(llm, timeout=1.5)
    start = time.monotonic()
    assert json.loads(c.chat(STEP1))["attributes"]
    took = time.monotonic() - start
    assert c.retries == 1 and 1.4 < took < 4.5, took  # ~1.5 s for the slow reply, not the ~100 s it would take


def test_a_reply_that_always_trickles_fails_in_time(llm):
    llm.script = ["trickle"] * 3
    start = time.monotonic()
    with pytest.raises(LLMError, match=r"after 2 attempts \(last: no complete reply within --timeout 1s\)"):
        client(llm, timeout=1, max_attempts=2).chat(STEP1)
    assert time.monotonic() - start < 4


# --- 3. credentials in --base-url are never written ------------------------------------------------------------

def test_endpoint_host_and_redact_url_drop_credentials():
    assert endpoint_host("http://user:S3cret@example.org:8000/v1") == "example.org:8000"
    assert endpoint_host("https://tok@example.org/v1") == "example.org"
    assert endpoint_host("http://u:p@[::1]:9/v1") == "[::1]:9"
    assert endpoint_host(None) == "api.openai.com"
    assert redact_url("http://user:S3cret@example.org:8000/v1?key=abc#x") == "http://example.org:8000/v1"


def _all_files(root):
    for d, _, files in os.walk(root):
        for f in files:
            yield osp.join(d, f)


def test_canary_key_and_password_appear_in_no_file_and_no_output(tmp_path, monkeypatch, capfd):
    server = FakeLLM(key=None)  # accepts any credentials (the URL's user:password replace the bearer key)
    key, password = "sk-CANARY-KEY-7f3a9", "CANARY-PASS-41c2"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    os.makedirs(tmp_path / "tmp")
    host = server.url.split("/")[2]
    url = server.url.replace("http://", f"http://canary-user:{password}@")
    out = str(tmp_path / "attrs")
    try:
        common = ["--dataset", "oxford_pets", "--attributes", "3", "--batch-size", "19", "--dir", out]
        server.script = [None, None, "html_200", "html_200"]  # a partial file, then a failed run
        assert main(["generate", *common, "--base-url", url, "--max-attempts", "2", "--backoff", "0"]) == 1
        assert osp.isfile(osp.join(out, "oxford_pets.partial.json"))
        server.script = []
        assert main(["generate", *common, "--base-url", url, "--backoff", "0"]) == 0
        unreachable = f"http://canary-user:{password}@127.0.0.1:9/v1"  # nothing listens on port 9
        assert main(["generate", *common, "--base-url", unreachable, "--force", "--max-attempts", "1"]) == 1
        ex = str(tmp_path / "exchange")
        assert main(["export", *common, "--out", ex]) == 0
        d = osp.join(ex, "OxfordPets")

        def answer(prompt, ans):  # "a chat assistant" answers an exported prompt
            user = open(osp.join(d, prompt)).read().split("### user\n", 1)[1]
            open(osp.join(d, ans), "w").write(correct_answer([{"role": "user", "content": user}]))

        answer("step1_prompt.txt", "step1_answer.json")
        assert main(["export", *common, "--out", ex]) == 0
        answer("step2_prompt_000.txt", "step2_answer_000.json")
        answer("step2_prompt_001.txt", "step2_answer_001.json")
        imported = str(tmp_path / "imported")
        assert main(["import", "--dataset", "oxford_pets", "--from", ex, "--dir", imported,
                     "--answered-by", "a test"]) == 0
        assert main(["validate", "--dataset", "oxford_pets", "--dir", out]) == 0
    finally:
        server.close()
    seen = capfd.readouterr()
    prov = json.load(open(osp.join(out, "oxford_pets.json")))["provenance"]
    assert prov["endpoint_host"] == host and server.requests and server.requests[0]["auth"]
    files = list(_all_files(tmp_path))
    assert osp.join(str(tmp_path), "imported", "oxford_pets.json") in files and len(files) >= 8
    for path in files:
        data = open(path, "rb").read()
        assert key.encode() not in data and password.encode() not in data, path
    for text in (seen.out, seen.err):
        assert key not in text and password not in text
    assert "Cannot reach http://127.0.0.1:9/v1" in seen.err


# --- 4. resuming: settings, damaged files, counts ----------------------------------------------------------------

def _partial(tmp_path, llm, n_attributes=6):
    llm.script = [None, None, None] + [500] * 4  # step 1 and two batches, then the server breaks
    with pytest.raises(LLMError):
        _gen(llm, tmp_path, client(llm, max_attempts=2), n_attributes=n_attributes)
    llm.script = []
    return tmp_path / "oxford_pets.partial.json"


def test_resume_with_other_settings_stops_or_restarts_with_force(llm, tmp_path):
    partial = _partial(tmp_path, llm, n_attributes=6)
    with pytest.raises(ResumeError, match=r"started with other settings: --attributes 6 \(now 4\).*--force"):
        _gen(llm, tmp_path, n_attributes=4)
    with pytest.raises(ResumeError, match=r"--model 'test-model' \(now 'other'\)"):
        generate(LLMClient("other", base_url=llm.url, sleep=lambda s: None), "OxfordPets", PETS, "cat and dog breeds",
                 n_attributes=6, directory=str(tmp_path))
    with pytest.raises(ResumeError, match=r"--word-limit 20 \(now 12\)"):
        _gen(llm, tmp_path, n_attributes=6, word_limit=12)
    assert len(json.load(open(partial))["attributes"]) == 6  # untouched
    path = _gen(llm, tmp_path, n_attributes=4, force=True)
    data = json.load(open(path))
    assert len(data["attributes"]) == 4 and data["provenance"]["settings"]["attributes"] == 4


def test_damaged_partial_file_is_named_with_what_to_do(llm, tmp_path, capfd):
    partial = _partial(tmp_path, llm)
    text = open(partial).read()
    open(partial, "w").write(text[:len(text) // 2])
    with pytest.raises(ResumeError) as err:
        _gen(llm, tmp_path, n_attributes=6)
    assert str(err.value).startswith(f"{partial} is damaged (cut off or not JSON") and "--force" in str(err.value)
    rc = main(["generate", "--dataset", "oxford_pets", "--base-url", llm.url, "--dir", str(tmp_path)])
    err_lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert rc == 1 and err_lines[-1].startswith(f"error: {partial} is damaged")
    assert "Traceback" not in "".join(err_lines)
    _gen(llm, tmp_path, n_attributes=6, force=True)


def test_damaged_final_file_is_detected_not_reported_complete(llm, tmp_path, capsys):
    path = _gen(llm, tmp_path)
    text = open(path).read()
    open(path, "w").write(text[:-200])
    before = len(llm.requests)
    with pytest.raises(ResumeError, match=r"oxford_pets.json exists but is damaged \(not valid UTF-8 JSON.*rerun with "
                                          r"--force"):
        _gen(llm, tmp_path)
    assert "nothing to do" not in capsys.readouterr().out and len(llm.requests) == before
    data = json.loads(text)
    del data["classes"]["beagle"]
    json.dump(data, open(path, "w"))
    with pytest.raises(ResumeError, match=r"no descriptions for 1 of the 37 classes \(e.g. \['beagle'\]\)"):
        _gen(llm, tmp_path)
    _gen(llm, tmp_path, force=True)
    assert "beagle" in json.load(open(path))["classes"]


def test_provenance_counts_every_request_across_resumes(llm, tmp_path):
    _partial(tmp_path, llm, n_attributes=4)  # 3 good requests, then 2 failed attempts (1 retry)
    first = len(llm.requests)
    prov = json.load(open(tmp_path / "oxford_pets.partial.json"))["provenance"]
    assert prov["requests"] == first == 5 and prov["retries"] == 1 and prov["runs"] == 1
    llm.script = [500, None]  # one retry in the second run too
    path = _gen(llm, tmp_path)
    prov = json.load(open(path))["provenance"]
    assert prov["requests"] == len(llm.requests) == first + 3 and prov["retries"] == 2 and prov["runs"] == 2
    assert prov["tokens"] == 15 * (3 + 2)  # successful replies only


def test_a_base_url_without_scheme_is_one_line_without_credentials(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with pytest.raises(LLMError, match=r"must be an http\(s\) URL") as err:
        LLMClient("m", base_url="ftp://user:S3cret@host/v1")
    assert "S3cret" not in str(err.value)
