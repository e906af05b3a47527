"""The base of every form: what is typed into a field reaches the code as text without controls."""

import re

from flask_wtf import FlaskForm
from wtforms.validators import StopValidation

# C0 controls (NUL, ESC...), DEL and C1 controls: no one types them, a database may refuse them
# (PostgreSQL text cannot hold NUL) and in a log or a terminal they forge lines and colours.
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTER_MESSAGE = "This contains control characters, which are not allowed; type or paste it again."


def no_control_characters(form: FlaskForm, field) -> None:
    """Refuse a value that holds a control character, with a message beside its field.

    Line breaks and tabs around a value are left for the field to trim: a copied value often
    ends with one.
    """
    if any(CONTROL_CHARACTER.search(value.strip()) for value in field.raw_data or ()):
        raise StopValidation(CONTROL_CHARACTER_MESSAGE)


class Form(FlaskForm):
    """A form whose every field refuses control characters before its own validators run."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            field = super().bind_field(form, unbound_field, options)
            field.validators = [no_control_characters, *field.validators]
            return field
