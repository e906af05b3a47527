"""The filters of the audit log: a GET form, so a filtered view is a link like any other."""

from datetime import date

from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional, StopValidation

from ..forms import Form
from .models import AREAS
from .service import Filters

# The account choice for what nobody signed in did (failed sign-ins): no e-mail looks like it.
NOBODY = "nobody"
NOT_LISTED = "Choose one of the list."


class Day(DateField):
    """A date input; a day that does not exist (or is not YYYY-MM-DD) is refused in words."""

    def process_formdata(self, valuelist) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Enter a date that exists, as YYYY-MM-DD.") from None


class NotBefore:
    """Refuse a day before the day of another field of the form."""

    def __init__(self, other: str):
        self.other = other

    def __call__(self, form: Form, field) -> None:
        start = form[self.other].data
        if isinstance(start, date) and isinstance(field.data, date) and field.data < start:
            raise StopValidation("The end date is before the start date.")


class AuditFilterForm(Form):
    """The filters above the log, each optional; the accounts to choose from are those in the log."""

    class Meta:
        csrf = False  # it only reads

    account = SelectField("Account", default="", invalid_choice_message=NOT_LISTED)
    area = SelectField(
        "Area",
        default="",
        choices=[SelectChoice("", "All areas"), *(SelectChoice(key, name) for key, name in AREAS.items())],
        invalid_choice_message=NOT_LISTED,
    )
    since = Day("From", validators=[Optional()])
    until = Day("To", validators=[Optional(), NotBefore("since")])

    def __init__(self, formdata, accounts: list[str]):
        super().__init__(formdata)
        self.account.choices = [
            SelectChoice("", "All accounts"),
            SelectChoice(NOBODY, "Nobody signed in"),
            *(SelectChoice(email) for email in accounts),
        ]

    def filters(self) -> Filters:
        """Return the validated filters."""
        account = self.account.data
        return Filters(
            actor_email="" if account == NOBODY else (account or None),
            area=self.area.data or None,
            since=self.since.data,
            until=self.until.data,
        )

    def query(self) -> dict[str, str]:
        """Return the filters in use as URL parameters, for the links to other pages."""
        return {field.name: field.raw_data[0] for field in self if field.raw_data and field.raw_data[0]}
