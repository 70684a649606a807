"""Invitation and reminder mails: default texts per language and safe personalisation."""
from __future__ import annotations

import hashlib
import hmac
import html
import re
from dataclasses import dataclass, field

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")

#: Texts used when a campaign has no template of its own, in the survey's language.
DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    "en": {"invitation_subject": "{{survey_title}}: we would like your opinion",
           "invitation_text": "Hello,\n\nPlease tell us what you think. It takes a minute:\n"
                              "{{url}}\n\nThank you!",
           "reminder_subject": "Reminder: {{survey_title}}",
           "reminder_text": "Hello,\n\nWe would still love to hear from you:\n{{url}}\n\nThank you!",
           "unsubscribe": "Do not want these surveys? Unsubscribe: {{unsubscribe_url}}"},
    "es": {"invitation_subject": "{{survey_title}}: nos gustaría conocer su opinión",
           "invitation_text": "Hola:\n\nCuéntenos qué piensa. Solo le llevará un minuto:\n"
                              "{{url}}\n\n¡Gracias!",
           "reminder_subject": "Recordatorio: {{survey_title}}",
           "reminder_text": "Hola:\n\nTodavía nos encantaría conocer su opinión:\n{{url}}\n\n¡Gracias!",
           "unsubscribe": "¿No desea recibir estas encuestas? Darse de baja: {{unsubscribe_url}}"},
    "sv": {"invitation_subject": "{{survey_title}}: vi vill gärna höra vad du tycker",
           "invitation_text": "Hej!\n\nBerätta vad du tycker. Det tar en minut:\n{{url}}\n\nTack!",
           "reminder_subject": "Påminnelse: {{survey_title}}",
           "reminder_text": "Hej!\n\nVi vill fortfarande gärna höra från dig:\n{{url}}\n\nTack!",
           "unsubscribe": "Vill du inte få dessa enkäter? Avregistrera dig: {{unsubscribe_url}}"},
    "fr": {"invitation_subject": "{{survey_title}} : votre avis nous intéresse",
           "invitation_text": "Bonjour,\n\nDites-nous ce que vous en pensez. Cela prend une "
                              "minute :\n{{url}}\n\nMerci !",
           "reminder_subject": "Rappel : {{survey_title}}",
           "reminder_text": "Bonjour,\n\nNous aimerions toujours avoir votre avis :\n{{url}}\n\n"
                            "Merci !",
           "unsubscribe": "Vous ne souhaitez plus ces enquêtes ? Se désinscrire : "
                          "{{unsubscribe_url}}"},
    "de": {"invitation_subject": "{{survey_title}}: Ihre Meinung ist uns wichtig",
           "invitation_text": "Hallo,\n\nbitte sagen Sie uns Ihre Meinung. Es dauert nur eine "
                              "Minute:\n{{url}}\n\nVielen Dank!",
           "reminder_subject": "Erinnerung: {{survey_title}}",
           "reminder_text": "Hallo,\n\nwir würden uns immer noch über Ihre Meinung freuen:\n"
                            "{{url}}\n\nVielen Dank!",
           "unsubscribe": "Keine Umfragen mehr erhalten? Abmelden: {{unsubscribe_url}}"},
    "cs": {"invitation_subject": "{{survey_title}}: zajímá nás váš názor",
           "invitation_text": "Dobrý den,\n\nřekněte nám, co si myslíte. Zabere to minutu:\n"
                              "{{url}}\n\nDěkujeme!",
           "reminder_subject": "Připomenutí: {{survey_title}}",
           "reminder_text": "Dobrý den,\n\nstále bychom rádi znali váš názor:\n{{url}}\n\n"
                            "Děkujeme!",
           "unsubscribe": "Nechcete tyto průzkumy dostávat? Odhlásit se: {{unsubscribe_url}}"},
}


def render(template: str, values: dict[str, str], for_html: bool = False) -> str:
    """Fill {{name}} placeholders; unknown names become empty, values are escaped in HTML."""
    def value_of(match: re.Match) -> str:
        value = values.get(match.group(1), "")
        return html.escape(value) if for_html else value
    return _PLACEHOLDER.sub(value_of, template)


@dataclass
class Mail:
    to: str
    subject: str
    text: str
    html: str | None
    headers: dict[str, str] = field(default_factory=dict)
    #: The Message-ID's left part: the same for every attempt at the same mail.
    key: str = ""


def message_key(secret: bytes, identity: str) -> str:
    """A stable, opaque Message-ID part for the mail ``identity`` names (no ids leak)."""
    return hmac.new(secret, f"message-id:{identity}".encode(), hashlib.sha256).hexdigest()[:32]


def compose(kind: str, templates: dict[str, str], language: str, to: str,
            values: dict[str, str]) -> Mail:
    """The invitation or reminder mail of one contact, with its unsubscribe link and header."""
    defaults = DEFAULT_TEXTS.get(language, DEFAULT_TEXTS["en"])
    subject = render(templates.get(f"{kind}_subject") or defaults[f"{kind}_subject"], values)
    text = render(templates.get(f"{kind}_text") or defaults[f"{kind}_text"], values)
    footer = render(defaults["unsubscribe"], values)
    html_template = templates.get(f"{kind}_html")
    body_html = None
    if html_template:
        body_html = (render(html_template, values, for_html=True)
                     + f'<p style="font-size:small"><a href="{html.escape(values["unsubscribe_url"])}">'
                     f"{html.escape(footer.split(':')[0])}</a></p>")
    return Mail(to=to, subject=" ".join(subject.split()), text=f"{text}\n\n--\n{footer}\n",
                html=body_html,
                headers={"List-Unsubscribe": f"<{values['unsubscribe_url']}>",
                         "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


def notification(campaign_name: str, survey, answers: dict, email: str | None,
                 crm_id: str | None, score: int | None, category: str | None,
                 link: str) -> tuple[str, str]:
    """Subject and text of the mail that tells a campaign's people about a response."""
    who = email or "an anonymous respondent"
    headline = f"NPS {score} ({category})" if score is not None else "a new response"
    lines = [f"{who}{f' (CRM id {crm_id})' if crm_id else ''} answered {campaign_name!r}: "
             f"{headline}.", ""]
    for question in survey.questions:
        if question.key in answers:
            value = answers[question.key]
            lines.append(f"- {question.text}\n  {', '.join(map(str, value)) if isinstance(value, list) else value}")
    lines += ["", f"Results of this campaign: {link}"]
    subject = f"[{campaign_name}] {headline} from {who}"
    return " ".join(subject.split())[:200], "\n".join(lines) + "\n"
