"""Make Spyne 2.14, its last release, import and run on Python 3.11, 3.12 and 3.13.

Spyne ships its own copy of ``six`` (``spyne.util.six``) whose import hook predates
``find_spec``; Python 3.12 no longer calls ``find_module``, so ``import spyne`` fails
(arskom/spyne#700, fixed upstream but never released). PyPI's ``six`` has the modern
hook: a module built from it (plus ``get_function_name``, which only Spyne's copy has)
and its ``six.moves`` modules, registered under the vendored names before Spyne is
first imported, make every ``from spyne.util.six... import`` resolve to PyPI's six.
The ``cgi`` module Spyne imports was removed in 3.13; PyPI's ``legacy-cgi`` (a
dependency on 3.13 only, see setup.cfg) provides it under the same name.

Importing this module is enough; it must run before anything imports ``spyne``,
which is why ``service/soap/__init__.py`` imports it first.
"""
from __future__ import annotations

import operator
import sys
import types

import six

VENDORED = "spyne.util.six"


def alias_vendored_six() -> None:
    """Register PyPI's six (and its ``moves``) under ``spyne.util.six``; idempotent."""
    if getattr(sys.modules.get(VENDORED), "__file__", None) == six.__file__:
        return
    if "spyne" in sys.modules:
        raise ImportError("service.soap.spyne_compat must be imported before spyne")
    module = types.ModuleType(VENDORED, six.__doc__)
    module.__dict__.update({k: v for k, v in vars(six).items() if k != "__name__"})
    module.get_function_name = operator.attrgetter("__name__")
    sys.modules[VENDORED] = module
    # six resolves its lazy `moves` modules by their registered full names.
    prefix = six.__name__ + "."
    for name in list(six._importer.known_modules):
        if name.startswith(prefix):
            six._importer.known_modules[VENDORED + "." + name[len(prefix):]] = \
                six._importer.known_modules[name]


alias_vendored_six()
