"""Spyne 2.14 runs on Python 3.12+ because service.soap swaps its vendored six for PyPI's."""
import six

import service.soap  # noqa: F401  (imports the compatibility module, then Spyne)


def test_spyne_resolves_its_vendored_six_to_pypis_six():
    from spyne.util import six as spyne_six
    from spyne.util.six.moves.urllib.parse import quote

    assert spyne_six.__file__ == six.__file__
    assert quote("a b") == "a%20b"


def test_the_function_only_spyne_s_copy_of_six_had_is_provided():
    from spyne.util import six as spyne_six

    assert spyne_six.get_function_name(test_the_function_only_spyne_s_copy_of_six_had_is_provided) \
        == "test_the_function_only_spyne_s_copy_of_six_had_is_provided"
