"""How a span of time reads to people, to two units: "45 s", "4 min 12 s", "3 h 20 min", "2 d 5 h".
Shared by every page that shows one (the workspace's service levels, the reports)."""

from django.utils.translation import gettext as _


def span_said(seconds) -> str:
    if seconds is None or seconds == "":
        return "–"
    seconds = int(abs(float(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours} if hours else _("%(d)s d") % {"d": days}
    if hours:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes} if minutes else _("%(h)s h") % {"h": hours}
    if minutes:
        if minutes < 10 and secs:
            return _("%(m)s min %(s)s s") % {"m": minutes, "s": secs}
        return _("%(m)s min") % {"m": minutes}
    return _("%(s)s s") % {"s": secs}
