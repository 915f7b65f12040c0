"""Message catalog: content/locales/<locale>.yaml (+ <locale>/*.yaml) -> t(key, locale, **vars).

Templates are Telegram HTML. Every variable is HTML-escaped unless it is wrapped in
``Html`` (already-safe markup built from other templates), so user-supplied strings
can never break a message or inject markup.
"""

from __future__ import annotations

import html
import logging
import string
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from bot.content.errors import ContentError

logger = logging.getLogger(__name__)

DEFAULT_LOCALE = "zh_CN"
LOCALES = ("zh_CN", "en")


class Html(str):
    """A string that is already valid Telegram HTML and must not be escaped again."""

    __slots__ = ()


def escape(value: object) -> Html:
    if isinstance(value, Html):
        return value
    return Html(html.escape(str(value), quote=False))


def locale_for(language_code: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The catalog locale for a Telegram user: English speakers get English, others the default
    (the chat's language, which admins choose)."""
    if language_code and language_code.lower().startswith("en"):
        return "en"
    return default


def _flatten(prefix: str, node: Any, out: dict[str, str], file: Path) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out, file)
    elif isinstance(node, str):
        if prefix in out:
            raise ContentError(str(file), prefix, "key defined twice")
        out[prefix] = node
    else:
        raise ContentError(str(file), prefix, f"expected text, got {type(node).__name__}")


def _locale_files(directory: Path, locale: str) -> list[Path]:
    files = [directory / f"{locale}.yaml"]
    part_dir = directory / locale
    if part_dir.is_dir():
        files.extend(sorted(part_dir.glob("*.yaml")))
    return [f for f in files if f.is_file()]


def _check_template(file: Path, key: str, template: str) -> None:
    try:
        list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ContentError(str(file), key, f"bad placeholder: {exc}") from None


class Texts:
    """All locales' messages, flattened to dotted keys."""

    def __init__(self, catalogs: Mapping[str, Mapping[str, str]]) -> None:
        self.catalogs = {loc: dict(cat) for loc, cat in catalogs.items()}
        if DEFAULT_LOCALE not in self.catalogs:
            raise ValueError(f"the {DEFAULT_LOCALE} catalog is required")

    @classmethod
    def load(cls, directory: Path, locales: Iterable[str] = LOCALES) -> Texts:
        catalogs: dict[str, dict[str, str]] = {}
        for locale in locales:
            files = _locale_files(directory, locale)
            if not files:
                raise ContentError(str(directory / f"{locale}.yaml"), None, "file not found")
            flat: dict[str, str] = {}
            for file in files:
                try:
                    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
                except yaml.YAMLError as exc:
                    raise ContentError(str(file), None, f"invalid YAML ({exc})") from None
                before = set(flat)
                _flatten("", data, flat, file)
                for key in set(flat) - before:
                    _check_template(file, key, flat[key])
            catalogs[locale] = flat
        return cls(catalogs)

    def has(self, key: str, locale: str) -> bool:
        return key in self.catalogs.get(locale, {})

    def raw(self, key: str, locale: str = DEFAULT_LOCALE) -> str:
        catalog = self.catalogs.get(locale) or self.catalogs[DEFAULT_LOCALE]
        template = catalog.get(key)
        if template is None:
            template = self.catalogs[DEFAULT_LOCALE].get(key)
        if template is None:
            logger.error("missing text key %s", key)
            return key
        return template

    def t(self, key: str, locale: str = DEFAULT_LOCALE, /, **values: object) -> Html:
        """The message ``key`` in ``locale`` (zh_CN fallback), variables HTML-escaped."""
        template = self.raw(key, locale)
        if not values:
            return Html(template)
        safe = {name: escape(value) for name, value in values.items()}
        try:
            return Html(template.format_map(safe))
        except (KeyError, IndexError, ValueError) as exc:
            logger.error("text %s: cannot fill template (%s)", key, exc)
            return Html(template)

    def plain(self, key: str, locale: str = DEFAULT_LOCALE, /, **values: object) -> str:
        """The message as plain text (for places that take no HTML: buttons, poll texts)."""
        template = self.raw(key, locale)
        try:
            return (
                template.format_map({k: str(v) for k, v in values.items()}) if values else template
            )
        except (KeyError, IndexError, ValueError) as exc:
            logger.error("text %s: cannot fill template (%s)", key, exc)
            return template
