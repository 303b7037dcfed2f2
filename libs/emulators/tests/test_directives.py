from __future__ import annotations

import pytest
from photochanger_emulators.directives import (
    DirectiveError,
    Directives,
    FailureGate,
    collect,
    find_in_text,
    parse_items,
)


def test_token_is_found_anywhere_in_the_prompt() -> None:
    text = "Make it a watercolor [emulate: slow=0.5, error=503] please [EMULATE:no-image]"
    assert find_in_text(text) == [" slow=0.5, error=503", "no-image"]


def test_items_accept_commas_semicolons_and_spaces() -> None:
    assert parse_items("slow=1; error=429  no-image,polls=3") == {
        "slow": "1",
        "error": "429",
        "no-image": None,
        "polls": "3",
    }


def test_collect_merges_image_and_prompt_and_the_prompt_wins() -> None:
    result = collect("error=500,slow=2", ["text [emulate: error=429]"])
    assert result == Directives(slow=2.0, error=429)


def test_result_url_keeps_the_url_as_written() -> None:
    result = collect("result-url=http://127.0.0.1:8080/Secret.png?a=b", [])
    assert result.result_url == "http://127.0.0.1:8080/Secret.png?a=b"


def test_no_directive_means_defaults() -> None:
    assert collect(None, ["just a prompt"]) == Directives()


@pytest.mark.parametrize(
    "body",
    [
        "explode",
        "slow",
        "slow=abc",
        "slow=-1",
        "error=200",
        "error=600",
        "no-image=1",
        "polls=-1",
        "fail-times=0",
        "at=later",
        "result-url=ftp://x/y",
    ],
)
def test_bad_directives_are_refused(body: str) -> None:
    with pytest.raises(DirectiveError):
        parse_items(body) and collect(body, [])


def test_fail_times_fails_first_k_then_succeeds_per_image() -> None:
    gate = FailureGate()
    wanted = collect("fail-times=2,error=500", [])
    assert gate.apply(wanted, "a").error == 500
    assert gate.apply(wanted, "a").error == 500
    assert gate.apply(wanted, "a").error is None
    assert gate.apply(wanted, "b").error == 500  # another image has its own counter


def test_fail_times_alone_implies_a_503() -> None:
    gate = FailureGate()
    wanted = collect("fail-times=1,slow=0.1", [])
    first = gate.apply(wanted, "x")
    second = gate.apply(wanted, "x")
    assert (first.error, first.slow) == (503, 0.1)
    assert (second.error, second.slow) == (None, 0.1)


def test_fail_times_gates_no_image_too() -> None:
    gate = FailureGate()
    wanted = collect("fail-times=1,no-image", [])
    assert gate.apply(wanted, "x").no_image
    assert not gate.apply(wanted, "x").no_image
