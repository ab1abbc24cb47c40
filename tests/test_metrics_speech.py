"""Word and character error rates and word alignments, against hand-counted edits."""

import pytest

from seq2seq.metrics import error_rates, speech_text, word_alignment


def test_speech_text_is_uppercase_words():
    assert speech_text("  erase  c q\tq ") == "ERASE C Q Q"


def test_error_rates_count_edits_over_the_corpus():
    # "A B C" -> "a x c d": one substitution, one insertion; "ONE" -> "two": one substitution. 3 edits / 4 words.
    # Letters ABC -> AXCD: 1 sub + 1 ins; ONE -> TWO: 3 subs. 5 edits / 6 letters.
    s = error_rates(["a x c d", "two"], ["A B C", "ONE"])
    assert s["wer"].score == 75.0 and s["cer"].score == pytest.approx(83.33)
    assert error_rates(["YES"], ["yes"])["wer"].score == 0.0
    assert error_rates([""], ["ONE TWO"])["wer"].score == 100.0  # two deletions


def test_error_rates_refuse_what_has_no_rate():
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        error_rates(["A"], ["A", "B"])
    with pytest.raises(ValueError, match="reference 2 is empty"):
        error_rates(["A", "B"], ["A", " "])


def test_word_alignment_names_each_edit():
    assert word_alignment("a x c d", "A B C") == [("equal", "A", "A"), ("substitute", "B", "X"), ("equal", "C", "C"),
                                                  ("insert", "", "D")]
    assert word_alignment("", "ONE") == [("delete", "ONE", "")]
    assert word_alignment("ONE", "") == [("insert", "", "ONE")]
