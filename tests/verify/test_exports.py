"""verify's public face (STYLE 1): a sorted ``__all__`` that is exactly what it offers."""

from __future__ import annotations

import types

import verify


def _isort_key(name: str) -> tuple[int, str]:
    """Ruff RUF022's order: SCREAMING_CASE constants, then CamelCase classes, then the rest."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted() -> None:
    assert verify.__all__ == sorted(verify.__all__, key=_isort_key)


def test_all_has_no_duplicates() -> None:
    assert len(verify.__all__) == len(set(verify.__all__))


def test_all_is_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(verify).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(verify.__all__) == public


def test_every_exported_name_resolves_and_comes_from_a_private_module() -> None:
    for name in verify.__all__:
        value = getattr(verify, name)
        module = getattr(value, "__module__", None)
        if module is not None and isinstance(value, type | types.FunctionType):
            assert module.startswith("verify._"), (name, module)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from verify import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(verify.__all__)
