"""The Microsoft Settings form, shared by Save Settings and the live save of one field."""

from datetime import date

from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import StopValidation

from ..encryption import UndecryptableError, decrypt
from ..forms import Form
from ..microsoft.identifiers import InvalidValue
from .service import FIELDS, KEEP, SECRET_EXPIRY_LABEL, USE_DEFAULT


class RegistrationValue:
    """Check a value against the shape Microsoft gives it, unless the field uses its default."""

    def __call__(self, form: Form, field) -> None:
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


class ExpiryDate:
    """Accept an empty value or a date written YYYY-MM-DD in a plausible range."""

    def __call__(self, form: Form, field) -> None:
        raw = (field.data or "").strip()
        if not raw:
            field.data = None
            return
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            raise StopValidation("Enter the date as YYYY-MM-DD, for example 2027-11-30.") from None
        if not date(2000, 1, 1) <= value <= date(2100, 12, 31):
            raise StopValidation("Enter the expiry date Azure shows for the secret (at most 24 months ahead).")
        field.data = value


class MicrosoftSettingsForm(Form):
    client_id = StringField(FIELDS["client_id"].label, validators=[RegistrationValue()])
    client_id_use_default = BooleanField("Use Default")
    client_secret = PasswordField(FIELDS["client_secret"].label, validators=[RegistrationValue()])
    client_secret_use_default = BooleanField("Use Default")
    tenant = StringField(FIELDS["tenant"].label, validators=[RegistrationValue()])
    tenant_use_default = BooleanField("Use Default")
    client_secret_expires_on = StringField(SECRET_EXPIRY_LABEL, validators=[ExpiryDate()])
    # A secret typed before Save Settings asked for confirmation, encrypted: the page never holds it.
    client_secret_pending = HiddenField()

    def secret_expires_on(self) -> object:
        """Return the validated expiry date, None to clear it, or KEEP when it was not sent."""
        if not self.client_secret_expires_on.raw_data:
            return KEEP
        return self.client_secret_expires_on.data

    def _pending_secret(self) -> object:
        try:
            return decrypt(self.client_secret_pending.data) if self.client_secret_pending.data else KEEP
        except UndecryptableError:
            return KEEP

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
                changes[name] = value or self._pending_secret()
            else:
                changes[name] = value or USE_DEFAULT
        return changes
