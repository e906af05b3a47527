"""Forms of My mailbox and of System mailboxes."""

from datetime import date

from wtforms import DateField, EmailField, HiddenField, RadioField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, StopValidation

from ..forms import Form

FROM_DATE = "date"
EVERYTHING = "everything"


def date_when_chosen(form: "FoldersForm", field) -> None:
    """Require a day not in the future, only when syncing from a date is chosen."""
    if form.sync.data != FROM_DATE:
        field.errors[:] = []
        raise StopValidation()
    if field.data is None:
        raise StopValidation("Enter the day to sync from, as YYYY-MM-DD, or choose Everything.")
    if field.data > date.today():
        raise StopValidation("The day to sync from cannot be in the future.")
    if field.data.year < 1970:
        raise StopValidation("Enter a day from 1970 on, or choose Everything.")


class FoldersForm(Form):
    """The folders to sync (offered: the selectable ones of the last check) and how far back."""

    folders = SelectMultipleField("Folders to sync", choices=[], validate_choice=False)
    sync = RadioField(
        "Sync mail",
        choices=[SelectChoice(FROM_DATE, "From a day"), SelectChoice(EVERYTHING, "Everything")],
        default=FROM_DATE,
    )
    sync_from = DateField("Sync from", validators=[date_when_chosen])

    def validate_folders(self, field) -> None:
        offered = set(self.offered)
        if not field.data:
            raise StopValidation("Choose at least one folder.")
        unknown = [name for name in field.data if name not in offered]
        if unknown:
            raise StopValidation(
                "These folders cannot be synced (not listed by the last check, or they only hold "
                f"other folders): {', '.join(unknown)[:200]}. Check the connection again, then choose."
            )

    def __init__(self, *args, offered: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.offered = offered


class ConnectForm(Form):
    """Connect with Microsoft 365; `replace` ("1") says that another account may replace the mailbox."""

    replace = HiddenField()

    @property
    def replaces(self) -> bool:
        return self.replace.data == "1"


class SystemMailboxForm(Form):
    """Add mailbox: a label for people and the mailbox's address."""

    label = StringField("Label", validators=[Length(max=100)])
    address = EmailField("Address", validators=[Length(max=254)])


class LabelForm(Form):
    """A system mailbox's label."""

    label = StringField("Label", validators=[Length(max=100)])


class ReadersForm(Form):
    """Who may read a system mailbox: roles offered as `choices`, the accounts chosen (shown as
    `choices`: the page lists only those, not every account) and accounts to add by e-mail."""

    roles = SelectMultipleField("Roles", choices=[])
    # Checked against the active accounts when saved (set_readers), not against the few shown.
    users = SelectMultipleField("Users", choices=[], coerce=int, validate_choice=False)
    add_users = StringField("Add readers", validators=[Length(max=5000)])
