"""Everything that talks to or knows about the Microsoft identity platform; no HTML here."""
