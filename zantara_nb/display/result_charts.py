"""Default charts of metric results: bars per value, or lines over time.

A result's ``plotter`` draws it with one of these. They read only the result's public
attributes (``df``, ``x``, ``y``, ``hue``, ``title``, ``units``, ``extra``), so this
module needs nothing from the metrics.
"""

from __future__ import annotations

from . import charts


def plot_bars(res, ax=None, **kw):
    """Horizontal bars of ``res.y`` per ``res.x`` (one bar named after the title when
    there is no ``x``), with the 95% interval ``res.extra['ci']`` as whiskers if given."""
    y = res.y if isinstance(res.y, str) else res.y[0]
    if res.x:
        d = res.df[[res.x, y]].copy()
        label = res.x
    else:
        d = res.df[[y]].copy()
        d.insert(0, "metric", [res.title] * len(d))
        label = "metric"
    ci = res.extra.get("ci")
    err = None
    if ci:
        d["_lo"] = res.df[ci[0]].fillna(res.df[y]).fillna(0.0).to_numpy()
        d["_hi"] = res.df[ci[1]].fillna(res.df[y]).fillna(0.0).to_numpy()
        err = ("_lo", "_hi")
    d[y] = d[y].fillna(0.0)
    unit = res.units.get(y)
    xlabel = kw.pop("xlabel", _axis_label(y, unit))
    return charts.barh(d, label, y, title=res.title, xlabel=xlabel, unit=unit, err=err, ax=ax)


def _axis_label(col: str, unit: str | None) -> str:
    suffix = {"rate": " (%)", "usd": " (USD)", "ms": " (ms)", "score": " (points)"}
    suffix.update(users=" (persons)", count="")
    name = col.removesuffix("_ms").removesuffix("_usd").replace("_", " ")
    return name[:1].upper() + name[1:] + suffix.get(unit or "", "")


def plot_line(res, ax=None, **kw):
    """Line over time of ``res.y`` (one line per breakdown value), with the 95% interval
    ``res.extra['ci']`` as a band when there is a single line."""
    y = res.y if isinstance(res.y, str) else res.y[0]
    unit = res.units.get(y)
    ci = res.extra.get("ci")
    band = tuple(ci) if (ci and not res.hue and "band" not in kw) else kw.pop("band", None)
    return charts.line(
        res.df,
        res.x,
        res.y,
        title=res.title,
        ylabel=kw.pop("ylabel", res.extra.get("ylabel") or _axis_label(y, unit)),
        xlabel=kw.pop("xlabel", res.x or ""),
        unit=unit,
        hue=res.hue,
        ax=ax,
        band=band,
        **kw,
    )
