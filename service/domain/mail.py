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
           "unsubscribe": "Do not want these surveys? Unsubscribe: {{unsubscribe_url}}",
           "scale_hint": "Tap a score: the survey opens with it chosen, to check and send."},
    "es": {"invitation_subject": "{{survey_title}}: nos gustaría conocer su opinión",
           "invitation_text": "Hola:\n\nCuéntenos qué piensa. Solo le llevará un minuto:\n"
                              "{{url}}\n\n¡Gracias!",
           "reminder_subject": "Recordatorio: {{survey_title}}",
           "reminder_text": "Hola:\n\nTodavía nos encantaría conocer su opinión:\n{{url}}\n\n¡Gracias!",
           "unsubscribe": "¿No desea recibir estas encuestas? Darse de baja: {{unsubscribe_url}}",
           "scale_hint": "Toque una puntuación: la encuesta se abre con ella elegida, para "
                         "revisarla y enviarla."},
    "sv": {"invitation_subject": "{{survey_title}}: vi vill gärna höra vad du tycker",
           "invitation_text": "Hej!\n\nBerätta vad du tycker. Det tar en minut:\n{{url}}\n\nTack!",
           "reminder_subject": "Påminnelse: {{survey_title}}",
           "reminder_text": "Hej!\n\nVi vill fortfarande gärna höra från dig:\n{{url}}\n\nTack!",
           "unsubscribe": "Vill du inte få dessa enkäter? Avregistrera dig: {{unsubscribe_url}}",
           "scale_hint": "Tryck på ett betyg: enkäten öppnas med det valt, så att du kan "
                         "kontrollera och skicka."},
    "fr": {"invitation_subject": "{{survey_title}} : votre avis nous intéresse",
           "invitation_text": "Bonjour,\n\nDites-nous ce que vous en pensez. Cela prend une "
                              "minute :\n{{url}}\n\nMerci !",
           "reminder_subject": "Rappel : {{survey_title}}",
           "reminder_text": "Bonjour,\n\nNous aimerions toujours avoir votre avis :\n{{url}}\n\n"
                            "Merci !",
           "unsubscribe": "Vous ne souhaitez plus ces enquêtes ? Se désinscrire : "
                          "{{unsubscribe_url}}",
           "scale_hint": "Touchez une note : l'enquête s'ouvre avec elle choisie, à vérifier "
                         "et envoyer."},
    "de": {"invitation_subject": "{{survey_title}}: Ihre Meinung ist uns wichtig",
           "invitation_text": "Hallo,\n\nbitte sagen Sie uns Ihre Meinung. Es dauert nur eine "
                              "Minute:\n{{url}}\n\nVielen Dank!",
           "reminder_subject": "Erinnerung: {{survey_title}}",
           "reminder_text": "Hallo,\n\nwir würden uns immer noch über Ihre Meinung freuen:\n"
                            "{{url}}\n\nVielen Dank!",
           "unsubscribe": "Keine Umfragen mehr erhalten? Abmelden: {{unsubscribe_url}}",
           "scale_hint": "Tippen Sie auf eine Bewertung: Die Umfrage öffnet sich damit "
                         "ausgewählt, zum Prüfen und Absenden."},
    "cs": {"invitation_subject": "{{survey_title}}: zajímá nás váš názor",
           "invitation_text": "Dobrý den,\n\nřekněte nám, co si myslíte. Zabere to minutu:\n"
                              "{{url}}\n\nDěkujeme!",
           "reminder_subject": "Připomenutí: {{survey_title}}",
           "reminder_text": "Dobrý den,\n\nstále bychom rádi znali váš názor:\n{{url}}\n\n"
                            "Děkujeme!",
           "unsubscribe": "Nechcete tyto průzkumy dostávat? Odhlásit se: {{unsubscribe_url}}",
           "scale_hint": "Klepněte na hodnocení: průzkum se otevře s ním vybraným, stačí "
                         "zkontrolovat a odeslat."},
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


#: The query parameter of a score chosen in the mail: the page shows it chosen, and
#: only the respondent's POST records it (mail scanners GET every link).
PICK_PARAM = "fl_pick"


@dataclass(frozen=True)
class Scale:
    """A first question a mail offers as a row of links, one per score."""

    text: str
    low: int
    high: int


def compose(kind: str, templates: dict[str, str], language: str, to: str,
            values: dict[str, str], scale: Scale | None = None) -> Mail:
    """The invitation or reminder mail of one contact, with its unsubscribe link and header.

    With a ``scale``, the HTML part (the campaign's, or one made from the text) ends with
    the first question as a row of score links to the survey page."""
    defaults = DEFAULT_TEXTS.get(language, DEFAULT_TEXTS["en"])
    subject = render(templates.get(f"{kind}_subject") or defaults[f"{kind}_subject"], values)
    text = render(templates.get(f"{kind}_text") or defaults[f"{kind}_text"], values)
    footer = render(defaults["unsubscribe"], values)
    html_template = templates.get(f"{kind}_html")
    body_html = None
    if html_template or scale is not None:
        body = (render(html_template, values, for_html=True) if html_template
                else "".join(f"<p>{html.escape(part)}</p>".replace("\n", "<br>")
                             for part in text.split("\n\n")))
        body_html = (body + (_scale_html(scale, values["url"], defaults["scale_hint"])
                             if scale is not None else "")
                     + f'<p style="font-size:small"><a href="{html.escape(values["unsubscribe_url"])}">'
                     f"{html.escape(footer.split(':')[0])}</a></p>")
    return Mail(to=to, subject=" ".join(subject.split()), text=f"{text}\n\n--\n{footer}\n",
                html=body_html,
                headers={"List-Unsubscribe": f"<{values['unsubscribe_url']}>",
                         "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


def _scale_html(scale: Scale, url: str, hint: str) -> str:
    cell = ("display:inline-block;min-width:2em;margin:2px;padding:10px 0;text-align:center;"
            "border:1px solid #888;border-radius:4px;text-decoration:none;color:#000")
    links = "".join(
        f'<a href="{html.escape(f"{url}?{PICK_PARAM}={score}")}" style="{cell}">{score}</a>'
        for score in range(scale.low, scale.high + 1))
    return (f'<p><strong>{html.escape(scale.text)}</strong></p><p>{links}</p>'
            f'<p style="font-size:small">{html.escape(hint)}</p>')


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
