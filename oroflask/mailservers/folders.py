"""A mailbox's folders as LIST returns them, each with its special role when it has one."""

from dataclasses import dataclass

ROLES = ("inbox", "sent", "drafts", "trash", "junk", "archive")
# RFC 6154 SPECIAL-USE attributes; Exchange Online sends none, most other servers do.
SPECIAL_USE = {
    "\\sent": "sent",
    "\\drafts": "drafts",
    "\\trash": "trash",
    "\\junk": "junk",
    "\\archive": "archive",
}
# Top-level folder names by role. Exchange's English names first, then the usual names of other
# servers, then the names Exchange gives its default folders once a mailbox's language is set
# (Set-MailboxRegionalConfiguration -LocalizeDefaultFolderName), as Microsoft's translated pages
# name them. Compared without case.
NAMES = {
    "sent": (
        "Sent Items", "Sent", "Sent Messages", "Sent Mail",
        "Gesendete Elemente", "Éléments envoyés", "Elementos enviados", "Verzonden items",
        "Posta inviata", "Itens Enviados",
    ),
    "drafts": ("Drafts", "Draft", "Entwürfe", "Brouillons", "Borradores", "Concepten", "Bozze", "Rascunhos"),
    "trash": (
        "Deleted Items", "Trash", "Deleted Messages", "Bin",
        "Gelöschte Elemente", "Éléments supprimés", "Elementos eliminados", "Verwijderde items",
        "Posta eliminata", "Itens Excluídos",
    ),
    "junk": (
        "Junk Email", "Junk E-mail", "Junk", "Spam", "Junk Mail",
        "Junk-E-Mail", "Courrier indésirable", "Correo no deseado", "Ongewenste e-mail",
        "Posta indesiderata", "Lixo Eletrônico",
    ),
    "archive": ("Archive", "Archives", "Archiv", "Archivo", "Archief", "Archivio", "Arquivo Morto"),
}
ROLE_BY_NAME = {name.casefold(): role for role, names in NAMES.items() for name in names}


@dataclass(frozen=True)
class Folder:
    """One folder: its full name, hierarchy delimiter, LIST flags, parent and special role.

    `selectable` is False for \\Noselect (and \\NonExistent) folders, which only hold others.
    """

    name: str
    delimiter: str | None
    flags: tuple[str, ...]
    parent: str | None
    special: str | None
    selectable: bool


def folder_from_list(flags: tuple, delimiter: bytes | str | None, name: str) -> Folder:
    """Return the folder of one LIST answer line, as IMAPClient parses it."""
    flags = tuple(_text(flag) for flag in flags)
    delimiter = _text(delimiter) if delimiter else None
    parent = name.rsplit(delimiter, 1)[0] if delimiter and delimiter in name else None
    lowered = {flag.lower() for flag in flags}
    return Folder(
        name=name,
        delimiter=delimiter,
        flags=flags,
        parent=parent,
        special=special_role(name, lowered, parent),
        selectable=not lowered & {"\\noselect", "\\nonexistent"},
    )


def special_role(name: str, lowered_flags: set[str], parent: str | None) -> str | None:
    """Return a folder's role: INBOX by name, else from SPECIAL-USE flags, else by a top-level name."""
    if name.upper() == "INBOX":
        return "inbox"
    for flag, role in SPECIAL_USE.items():
        if flag in lowered_flags:
            return role
    if parent is not None:
        return None
    return ROLE_BY_NAME.get(name.casefold())


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
