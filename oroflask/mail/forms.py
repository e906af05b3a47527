"""The mail pages' forms: a read or flag toggle, a button whose value is the state wanted."""

from wtforms import HiddenField
from wtforms.validators import AnyOf

from ..forms import Form


class FlagForm(Form):
    """Set ("1") or clear ("0") a message's flag."""

    value = HiddenField(validators=[AnyOf(("0", "1"))])
