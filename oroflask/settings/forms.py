"""The Microsoft Settings form, shared by Save Settings and the live save of one field."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import StopValidation

from ..microsoft.identifiers import InvalidValue
from .service import FIELDS, KEEP, USE_DEFAULT


class RegistrationValue:
    """Check a value against the shape Microsoft gives it, unless the field uses its default."""

    def __call__(self, form: FlaskForm, field) -> None:
        if form[field.name + "_use_default"].data:
            return
        raw = field.data or ""
        if not raw.strip():
            field.data = ""
            return
        try:
            field.data = FIELDS[field.name].normalize(raw)
        except InvalidValue as error:
            raise StopValidation(str(error)) from None


class MicrosoftSettingsForm(FlaskForm):
    client_id = StringField(FIELDS["client_id"].label, validators=[RegistrationValue()])
    client_id_use_default = BooleanField("Use Default")
    client_secret = PasswordField(FIELDS["client_secret"].label, validators=[RegistrationValue()])
    client_secret_use_default = BooleanField("Use Default")
    tenant = StringField(FIELDS["tenant"].label, validators=[RegistrationValue()])
    tenant_use_default = BooleanField("Use Default")

    def validate_field(self, name: str) -> bool:
        """Validate one setting alone, as a live save does."""
        return self[name].validate(self)

    def changes(self, names=None) -> dict[str, object]:
        """Return what saving this form changes: a value, USE_DEFAULT or KEEP per setting."""
        changes = {}
        for name in names or FIELDS:
            value = self[name].data or ""
            if self[name + "_use_default"].data:
                changes[name] = USE_DEFAULT
            elif not self[name].raw_data:
                # A browser always sends every input; one left out of the request is not cleared.
                changes[name] = KEEP
            elif FIELDS[name].secret:
                changes[name] = value or KEEP
            else:
                changes[name] = value or USE_DEFAULT
        return changes
