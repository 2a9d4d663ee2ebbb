"""An agent's formatted email: what they write is Markdown (bold, italic, links, lists), which reads
well as the plain-text part as it is, and becomes the HTML part here.

Markdown rather than a rich-text editor: the composer stays a textarea (keyboard-first, no editor
framework to load), and the toolbar only inserts the marks. Raw HTML in the text is shown as text,
never passed on, and the result goes through the same sanitizer as mail from outside.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

from inbox.connectors.parsing import sanitize_html

# CommonMark, with "html" off: a "<b>" an agent types is text. Line breaks are kept as written, as
# people expect of an email.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["strikethrough"])


def signed(text: str, signature: str) -> str:
    """An email's text with its signature under the usual "-- " line (mail programs fold what follows)."""
    return f"{text.rstrip()}\n\n-- \n{signature}" if signature else text


def email_html(text: str) -> str:
    """The HTML part of an agent's email: the Markdown rendered, then sanitized."""
    return sanitize_html(_MARKDOWN.render(text))
