"""Forms of the account pages."""

from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, StopValidation
from wtforms.widgets import PasswordInput

from ..forms import Form
from . import service


class LoginForm(Form):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class AccountRule:
    """Apply one of the account rules of the service (`email_problem`)."""

    def __init__(self, problem):
        self.problem = problem

    def __call__(self, form: Form, field) -> None:
        message = self.problem(field.data or "")
        if message:
            raise StopValidation(message)


class PasswordRule:
    """Apply `password_problem` to a new password, against the e-mail of its account.

    `email_of` returns that e-mail from the form (a field of it, or the signed-in account's).
    """

    def __init__(self, email_of):
        self.email_of = email_of

    def __call__(self, form: Form, field) -> None:
        message = service.password_problem(field.data or "", self.email_of(form) or "")
        if message:
            raise StopValidation(message)


class SetupCode:
    """Check the setup code the run command printed."""

    def __call__(self, form: Form, field) -> None:
        if not service.check_setup_code(field.data or ""):
            raise StopValidation(
                "This is not the setup code. It is printed when the app starts "
                "and kept in the file setup-code of the instance folder."
            )


# The setup page is no-store: the passwords stay in their inputs when another field is refused,
# so that they need not be typed again.
KEPT_PASSWORD = PasswordInput(hide_value=False)


class SetupForm(Form):
    setup_code = StringField("Setup code", validators=[DataRequired(), Length(max=64), SetupCode()])
    email = EmailField(
        "Administrator e-mail",
        validators=[DataRequired(), Length(max=254), AccountRule(service.email_problem)],
    )
    password = PasswordField(
        "Password",
        widget=KEPT_PASSWORD,
        validators=[
            DataRequired(),
            Length(max=1024),
            PasswordRule(lambda form: form.email.data),
        ],
    )
    password_confirm = PasswordField(
        "Repeat password",
        widget=KEPT_PASSWORD,
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )


class EmptyForm(Form):
    """A form with only its CSRF token, for buttons that POST."""


class SetPasswordForm(Form):
    """The page of a one-time link; `email` is the e-mail of the link's account."""

    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(max=1024), PasswordRule(lambda form: form.email)],
    )
    password_confirm = PasswordField(
        "Repeat new password",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )

    def __init__(self, email: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email
