"""The evidence report's two charts, drawn as inline SVG on the server.

Why hand-written SVG: the report must open anywhere, offline, with no script and no network
(an auditor's laptop, an archived file), and two simple charts do not justify a plotting
library. Every text is escaped; every number is computed here, so the file is self-contained.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from entrusted.domain.evidence import BackupAge, DailyCount

PALETTE = ("#3b6ea5", "#6a9f3b", "#b07b2a", "#7a4f9e", "#2a9d8f", "#8c6d62")
REFUSED = "#c62828"
WIDTH = 720
MAX_BACKUPS = 60  # the newest ones; older ones are destroyed and add nothing to read


def _svg(height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'font-family="sans-serif">{escape(text)}</text>'
    )


def access_chart(days: Sequence[DailyCount]) -> str:
    """Stacked bars per day: one colour per resource kind, refusals outlined in red."""
    title = "Staff accesses to customer data per day, by kind and outcome"
    if not days:
        return _svg(40, title, [_text(8, 24, "no staff access to customer data in the period")])
    kinds = sorted({d.kind for d in days})
    colour = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(kinds)}
    per_day: dict[str, list[DailyCount]] = {}
    for d in days:
        per_day.setdefault(d.day, []).append(d)
    dates = sorted(per_day)
    top = max(sum(d.count for d in per_day[day]) for day in dates)
    left, bottom, plot_h = 48, 200, 170
    slot = min(48.0, (WIDTH - left - 10) / len(dates))  # one day alone is no wall
    body = [
        f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - 10}" y2="{bottom}" stroke="#444"/>',
        _text(left - 6, bottom - plot_h + 4, str(top), "end"),
        _text(left - 6, bottom, "0", "end"),
    ]
    for i, day in enumerate(dates):
        x = left + i * slot + slot * 0.15
        y = float(bottom)
        for d in sorted(per_day[day], key=lambda d: (d.kind, d.decision)):
            h = plot_h * d.count / top
            y -= h
            refused = d.decision == "deny"
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                f'fill="{colour[d.kind]}" fill-opacity="{0.45 if refused else 1}" '
                f'stroke="{REFUSED if refused else "none"}" stroke-width="1.5">'
                f"<title>{escape(f'{day} {d.kind} {d.decision}: {d.count}')}</title></rect>"
            )
        if len(dates) <= 16 or i % max(1, len(dates) // 8) == 0:
            body.append(_text(x + slot * 0.35, bottom + 14, day[5:], "middle", 10))
    legend_y = bottom + 34
    for i, k in enumerate(kinds):
        x = left + (i % 4) * 160
        y = legend_y + (i // 4) * 16
        body.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour[k]}"/>')
        body.append(_text(x + 14, y, k))
    y = legend_y + ((len(kinds) + 3) // 4) * 16
    body.append(
        f'<rect x="{left}" y="{y - 9}" width="10" height="10" fill="#999" '
        f'fill-opacity="0.45" stroke="{REFUSED}" stroke-width="1.5"/>'
    )
    body.append(_text(left + 14, y, "refused (pale, outlined red)"))
    return _svg(y + 12, title, body)


def backup_chart(ages: Sequence[BackupAge], retention_days: int) -> str:
    """One bar per backup: its age in days against the retention line; past it is red."""
    title = f"Backup age in days against the {retention_days}-day line"
    if not ages:
        return _svg(40, title, [_text(8, 24, "no backups on record")])
    shown = sorted(ages, key=lambda a: a.age_days)[-MAX_BACKUPS:]
    span = max([retention_days + 1.0, *(a.age_days for a in shown)])
    left, bar, top = 150, 9, 22
    plot_w = WIDTH - left - 20
    height = top + len(shown) * (bar + 3) + 28

    def x_of(days: float) -> float:
        return left + plot_w * days / span

    body = [_text(left, 14, "age (days)")]
    for i, a in enumerate(shown):
        y = top + i * (bar + 3)
        over = a.age_days > retention_days
        fill = REFUSED if over else ("#9e9e9e" if a.destroyed else PALETTE[0])
        state = "destroyed" if a.destroyed else "kept"
        body.append(
            f'<rect x="{left}" y="{y}" width="{max(1.0, x_of(a.age_days) - left):.1f}" '
            f'height="{bar}" fill="{fill}"><title>'
            f"{escape(f'{a.backup_id}: {a.age_days:.2f} days, {state}')}</title></rect>"
        )
        body.append(_text(left - 6, y + bar - 1, a.backup_id[-18:], "end", 9))
    line = x_of(retention_days)
    bottom = top + len(shown) * (bar + 3)
    body.append(
        f'<line x1="{line:.1f}" y1="{top - 4}" x2="{line:.1f}" y2="{bottom}" '
        f'stroke="{REFUSED}" stroke-dasharray="4 3" stroke-width="2"/>'
    )
    body.append(_text(line, bottom + 14, f"{retention_days} days", "middle"))
    body.append(_text(left, bottom + 14, "0", "middle"))
    return _svg(height, title, body)
