"""Property-based tests: random and adversarial text never crashes the pipeline, offsets stay valid."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medcode.errors import InputError
from medcode.notes import Note

ADVERSARIAL = st.sampled_from([
    "x" * 50_000,                                   # one huge token
    "\x00\x01\x02\x1b[31m pneumonia \x7f\u200b",     # control and zero-width characters
    "Neumonía 肺炎 пневмония التهاب رئوي pneumonia",  # mixed scripts
    "no " * 2000 + "pneumonia",                     # a very long negation scope
    "\n\n\n\t\t  \r\n fever \u2028 cough \u2029",    # odd line breaks
    "(((((( [[[[ fever ]]]] ))))))",
    "🙂" * 500 + " chest pain",
])


def check(model, text):
    if not text.strip():
        # A blank note is refused by name, never scored or crashed on.
        with pytest.raises(InputError, match="fuzz"):
            model.predict([Note("fuzz", text)], top_k=5)
        return
    result = model.predict([Note("fuzz", text)], top_k=5)[0]
    for sug in result["suggestions"] + result["excluded"]:
        assert 0.0 <= sug["score"] <= 1.0
        for ev in sug["evidence"]:
            assert 0 <= ev["start"] < ev["end"] <= len(text)
            assert text[ev["start"]:ev["end"]] == ev["text"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(min_size=1, max_size=2000))
def test_random_text(tiny_model, text):
    check(tiny_model, text)


@settings(max_examples=7, deadline=None)
@given(text=ADVERSARIAL)
def test_adversarial_text(tiny_model, text):
    check(tiny_model, text)


def test_one_megabyte_note(tiny_model):
    text = ("The patient has fever and a chest X-ray showed pneumonia. " * 18_000)[:1_000_000]
    check(tiny_model, text)
