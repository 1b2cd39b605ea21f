"""safe_text: what a user-controlled value looks like wherever it is displayed."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import io  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from zantara_nb.display import charts  # noqa: E402
from zantara_nb.display.text import (  # noqa: E402
    ELLIPSIS,
    LIMIT,
    WORD_LIMIT,
    chart_text,
    safe_frame,
    safe_text,
)


def test_personal_data_is_redacted_and_markup_left_to_the_escaper():
    assert safe_text("ana@example.com <b>") == "[email] <b>"


def test_invisible_and_control_characters():
    # shown, so they neither reorder the page nor make two values look the same
    assert safe_text("\u202egnp.exe\u202c") == "\ufffdgnp.exe\ufffd"
    assert safe_text("vi\u200bsa\ufeff") == "vi\ufffdsa\ufffd" != safe_text("visa")
    assert safe_text("a\x00b\x1bc") == "a b c"


def test_long_values_are_cut_with_a_mark():
    s = safe_text("x " * 100_000)
    assert len(s) == LIMIT and s.endswith(ELLIPSIS)
    # a run without a space is cut too, so a value can always wrap
    assert safe_text("x" * 200_000) == "x" * (WORD_LIMIT - 1) + ELLIPSIS
    assert safe_text("see " + "y" * 50 + " here") == "see " + "y" * (WORD_LIMIT - 1) + "… here"
    assert safe_text("x" * 50, 10) == "x" * 9 + ELLIPSIS
    assert safe_text("short") == "short"
    # an address that crosses the cut is still redacted, never shown in part
    s = safe_text("y" * (LIMIT - 5) + " ana@example.com")
    assert "ana@" not in s and "@" not in s


def test_chart_text_escapes_dollars_once():
    assert chart_text(r"$\boom$") == r"\$\boom\$"
    assert chart_text(r"\$5") == r"\$5"


def test_safe_frame_touches_text_only():
    df = pd.DataFrame({"c": ["ana@example.com", None], "n": [1.5, 2.0]})
    out = safe_frame(df)
    assert out["c"].iloc[0] == "[email]" and pd.isna(out["c"].iloc[1])
    assert out["n"].tolist() == [1.5, 2.0]


def _draw(fig) -> None:
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


def test_charts_show_dollar_pairs_literally():
    df = pd.DataFrame({"c": [r"$\boom$", "a $5 and $10 plan", "z" * 500], "v": [1, 2, 3]})
    for draw in (
        lambda: charts.bar(df, "c", "v", title="by $a$", ylabel="n", unit="count"),
        lambda: charts.barh(df, "c", "v", title="t $x$", xlabel="n", unit="count"),
        lambda: charts.line(df.assign(d=[1, 2, 3]), "d", "v", hue="c", title="t", ylabel="y"),
    ):
        ax = draw()
        ax.figure.canvas.draw()  # would raise on "$\boom$" parsed as math
        ticks = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        assert all(len(t) <= 40 for t in ticks)
        plt.close(ax.figure)


def test_literal_text_covers_figures_drawn_elsewhere():
    fig, ax = plt.subplots()
    ax.bar([r"$\boom$", "$a$"], [1, 2])
    ax.set_title(r"$\frac{1}{0}$ from 203.0.113.9")
    ax.legend([r"$\alpha$ $\beta$"])
    ax.set_yticks([1, 2])
    ax.set_yticklabels(["$p$", "$q$"])
    charts.literal_text(fig)
    fig.canvas.draw()
    assert (ax.get_title() or ax.get_title("left")) == r"\$\frac{1}{0}\$ from [ip]"
    assert [t.get_text() for t in ax.get_yticklabels()] == [r"\$p\$", r"\$q\$"]
    _draw(fig)
