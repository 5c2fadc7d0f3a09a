"""The web portal (French, server-rendered with Jinja2): sign-in, second factor, a home page per
role. Later capabilities add their pages here and reuse ``vigie.web.pages``."""
