import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laoke.replies import OPT_IN, OPT_IN_WORDS, OPT_OUT, OPT_OUT_WORDS, classify_reply

REPLIES = [
    # The listed opt-out words, any case / width / punctuation around.
    ("T", OPT_OUT),
    (" t ", OPT_OUT),
    ("T。", OPT_OUT),
    ("Ｔ", OPT_OUT),
    ("TD", OPT_OUT),
    ("ＴＤ", OPT_OUT),
    ("td！", OPT_OUT),
    ("T D", OPT_OUT),
    ("T.D.", OPT_OUT),
    ("N", OPT_OUT),
    ("n.", OPT_OUT),
    ("退订", OPT_OUT),
    ("【退订】", OPT_OUT),
    ("「退订」", OPT_OUT),
    ("“TD”", OPT_OUT),
    ("取消", OPT_OUT),
    ("取消订阅", OPT_OUT),
    ("退", OPT_OUT),
    ("STOP", OPT_OUT),
    ("Stop!", OPT_OUT),
    ("ｓｔｏｐ", OPT_OUT),
    ("stop all", OPT_OUT),
    ("UNSUBSCRIBE", OPT_OUT),
    ("Unsubscribe.", OPT_OUT),
    ("unsub", OPT_OUT),
    ("😡退订😡", OPT_OUT),
    # A command with politeness around it.
    ("退订谢谢", OPT_OUT),
    ("退订，谢谢！", OPT_OUT),
    ("回T退订", OPT_OUT),
    ("T退订", OPT_OUT),
    ("麻烦退订吧", OPT_OUT),
    ("stop please", OPT_OUT),
    ("unsubscribe me, thanks", OPT_OUT),
    # An unmistakable opt-out phrase anywhere, not negated.
    ("我要退订", OPT_OUT),
    ("亲，退订", OPT_OUT),
    ("怎么退订？", OPT_OUT),
    ("退订不了", OPT_OUT),
    ("为什么不能退订", OPT_OUT),
    ("已退订，别再发了", OPT_OUT),
    ("不想收到短信，退订", OPT_OUT),
    ("别再发短信了", OPT_OUT),
    ("Stop sending me texts", OPT_OUT),
    ("I already unsubscribed", OPT_OUT),
    ("please unsubscribe me from this list", OPT_OUT),
    # Both words: the opt-out wins.
    ("T START", OPT_OUT),
    # Opt-in words.
    ("start", OPT_IN),
    ("START", OPT_IN),
    ("Ｓｔａｒｔ！", OPT_IN),
    ("订阅", OPT_IN),
    ("【订阅】", OPT_IN),
    ("我要订阅", OPT_IN),
    ("重新订阅", OPT_IN),
    ("subscribe", OPT_IN),
    ("unstop", OPT_IN),
    # Not commands.
    ("thanks", None),
    ("Tomorrow", None),
    ("ok", None),
    ("好的", None),
    ("no", None),
    ("Yes", None),
    ("n/a", None),
    ("T1", None),
    ("stopped", None),
    ("can't stop buying", None),
    ("退款", None),
    ("退货怎么弄", None),
    ("退了", None),
    ("取消订单", None),
    ("不要订阅", None),
    ("", None),
    ("   ", None),
    ("。。。", None),
    (None, None),
    # Negated opt-out: the customer asks to stay.
    ("不要退订", None),
    ("不退订", None),
    ("我没有退订", None),
    ("不要取消订阅", None),
    ("do not unsubscribe me", None),
    ("don't unsubscribe", None),
]


@pytest.mark.parametrize(("text", "expected"), REPLIES)
def test_classify_reply(text, expected):
    assert classify_reply(text) == expected


@pytest.mark.parametrize("word", sorted(OPT_OUT_WORDS))
def test_every_opt_out_word_opts_out(word):
    assert classify_reply(word) == OPT_OUT
    assert classify_reply(f"  【{word.upper()}】！ ") == OPT_OUT


@pytest.mark.parametrize("word", sorted(OPT_IN_WORDS))
def test_every_opt_in_word_opts_in(word):
    assert classify_reply(word) == OPT_IN
    assert classify_reply(f"“{word.upper()}”。") == OPT_IN


def test_non_text_is_not_a_command():
    assert classify_reply(float("nan")) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_never_raises(text):
    assert classify_reply(text) in (OPT_OUT, OPT_IN, None)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(OPT_OUT_WORDS)),
    st.text(alphabet=" \t\u3000.,!?。！，、「」【】“”\"'()（）~～", max_size=4),
    st.text(alphabet=" \t\u3000.,!?。！，、「」【】“”\"'()（）~～", max_size=4),
    st.booleans(),
)
def test_opt_out_words_survive_any_case_width_and_punctuation(word, before, after, full_width):
    if full_width:
        word = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in word)
    assert classify_reply(before + word.upper() + after) == OPT_OUT
