"""Where a visitor's values enter (ui/inputs.py): one range and one sentence for every seed, checked on the page
before its event runs (so the sentence is shown once, under its field) and by the handler for API clients."""
import gradio as gr
import pytest

from ui.inputs import MAX_SEED, InputError, number, seed, validator

SENTENCE = "The seed must be a whole number from 0 to 4294967295, not {}."


@pytest.fixture(scope="module")
def demo():
    from ui import build_demo, untrained_models

    return build_demo(untrained_models())


def seed_boxes(demo):
    return [b for b in demo.blocks.values() if isinstance(b, gr.Number) and b.label == "seed"]


def test_every_seed_field_takes_the_32_bit_range_the_pages_generators_take(demo):
    assert MAX_SEED == 2**32 - 1
    boxes = seed_boxes(demo)
    assert len(boxes) == 3  # Sample, Conditional VAE, Faces
    assert all((b.minimum, b.maximum) == (0, MAX_SEED) for b in boxes)
    train_view = [b.value for b in demo.blocks.values() if isinstance(b, gr.HTML) and isinstance(b.value, dict)
                  and "max_digits" in b.value]
    assert [v["max_seed"] for v in train_view] == [MAX_SEED]  # the Train tab's box reads it


@pytest.mark.parametrize("value, shown", [(2**32, "4294967296"), (-1, "-1"), ("1e30", "1e30"), (1e30, "1e+30"),
                                          (2.5, "2.5"), (10**20, "1" + "0" * 18 + "…")])
def test_a_seed_outside_the_range_gets_the_one_sentence(value, shown):
    with pytest.raises(InputError) as refused:
        seed(value)
    assert str(refused.value) == SENTENCE.format(shown)


def test_the_ends_of_the_range_are_seeds():
    assert seed(0) == 0 and seed(MAX_SEED) == MAX_SEED and seed(str(MAX_SEED)) == MAX_SEED and seed(7.0) == 7


def test_a_quoted_value_is_never_another_number():
    """A 21-digit number cut to 20 digits read as a number ten times smaller: it is cut with an ellipsis."""
    with pytest.raises(InputError, match="not 1234567890123456789…"):
        number(123456789012345678901, "x", 0, 1)


@pytest.mark.parametrize("typed", ["1_6", "١٢", "²", "0x10", "inf", "nan", "", " ", "1e", "--1", "1.2.3", "4\xa0",
                                   "\u20034"])
def test_a_number_is_read_only_as_a_person_types_one(typed):
    """Python's float() reads "1_6" as 16 and Arabic-Indic digits as digits; a field reads ASCII decimals only."""
    with pytest.raises(InputError, match="must be a number"):
        number(typed, "x", -1e9, 1e9)


@pytest.mark.parametrize("typed, value", [(" 12 ", 12), ("+5", 5), ("-3", -3), ("1e3", 1000), (".5", 0.5),
                                          ("5.", 5), ("-2.5E-1", -0.25)])
def test_decimals_as_typed_are_numbers(typed, value):
    assert number(typed, "x", -1e9, 1e9) == value


def test_the_validator_marks_the_bad_value_with_its_handlers_sentence_and_passes_the_rest():
    check = validator(None, seed)
    ok, bad = check("anything", 2**40)
    assert ok == gr.validate(True, "")
    assert bad == gr.validate(False, SENTENCE.format(2**40))
    assert check(None, 5) == [gr.validate(True, ""), gr.validate(True, "")]


def test_every_page_event_checks_its_seed_first_and_each_api_endpoint_answers_with_the_sentence(demo):
    """A page event with a validator shows a bad seed's sentence once under the box and does not run (without one,
    each Enter or click added it to the error toast again); an API endpoint has none (a validator's refusal reaches
    a client as a bare 422), and its handler refuses the seed with the same sentence."""
    boxes = seed_boxes(demo)
    events = [fn for fn in demo.fns.values() if any(b in boxes for b in fn.inputs)]
    page = [fn for fn in events if fn.api_visibility == "private"]
    api = [fn for fn in events if fn.api_visibility == "public"]
    assert len(page) >= 8 and all(fn.validator is not None for fn in page), [fn.api_name for fn in page]
    assert sorted(fn.api_name for fn in api) == ["cvae_sample", "face_samples", "sample"]
    assert all(fn.validator is None for fn in api)


def test_the_guard_lets_a_validators_verdicts_through_and_rewrites_every_other_422():
    """ui.limits.Guard rewrites gradio's refusals into one sentence; a validator's verdicts (our sentences) must reach
    the page as they are, or it shows "The request's fields are not the ones this address takes." in a toast."""
    from ui.limits import validation

    verdict = {"__type__": "validate", "is_valid": False, "message": SENTENCE.format(2**32), "parameter_name": "seed"}
    assert validation({"detail": [{"is_valid": True, "message": ""}, verdict]})
    assert not validation({"detail": [{**verdict, "message": "File not allowed: /root/secret"}]})  # a path
    assert not validation({"detail": [{"loc": ["body", "data"], "msg": "field required", "type": "missing"}]})
    assert not validation({"detail": []}) and not validation({"error": None}) and not validation(None)
