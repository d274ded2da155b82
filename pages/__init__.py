"""Dashboard pages: one thin file per page; shared widgets live in ``pages._ui``."""
