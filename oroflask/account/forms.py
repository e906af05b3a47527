"""Forms of My account."""

from flask_login import current_user
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from ..auth.forms import PasswordRule
from ..forms import Form


class ChangePasswordForm(Form):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])
    new_password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(max=1024), PasswordRule(lambda form: current_user.email)],
    )
    new_password_confirm = PasswordField(
        "Repeat new password",
        validators=[DataRequired(), EqualTo("new_password", message="The two passwords differ.")],
    )
