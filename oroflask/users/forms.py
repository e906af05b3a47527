"""Forms of System › Users."""

from wtforms import BooleanField, EmailField, PasswordField, RadioField, SearchField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, StopValidation

from ..auth import service as accounts
from ..auth.forms import AccountRule, PasswordRule
from ..forms import Form

ROLE_CHOICES = [SelectChoice("user", "User"), SelectChoice("admin", "Administrator")]
LINK = "link"
TYPED = "password"


class SearchForm(Form):
    """The search of the users page: a plain GET form, without a CSRF token."""

    class Meta:
        csrf = False

    q = SearchField("Search by e-mail or name", validators=[Length(max=254)])


def required_when_typed(form: "CreateUserForm", field) -> None:
    """Require the password only when the account signs in with a password typed now."""
    if form.sign_in.data != TYPED:
        field.errors[:] = []
        raise StopValidation()
    if not field.data:
        raise StopValidation("Type the password, or choose to make a one-time link.")


class CreateUserForm(Form):
    email = EmailField(
        "E-mail", validators=[DataRequired(), Length(max=254), AccountRule(accounts.email_problem)]
    )
    name = StringField("Name", validators=[Length(max=120)])
    role = RadioField("Role", choices=ROLE_CHOICES, default="user")
    sign_in = RadioField(
        "How they will sign in",
        choices=[SelectChoice(LINK, "Make a one-time link"), SelectChoice(TYPED, "Type a password now")],
        default=LINK,
    )
    password = PasswordField(
        "Password",
        validators=[required_when_typed, Length(max=1024), PasswordRule(lambda form: form.email.data)],
    )


class EditUserForm(Form):
    name = StringField("Name", validators=[Length(max=120)])
    role = RadioField("Role", choices=ROLE_CHOICES)
    active = BooleanField("Active: the account can sign in")
