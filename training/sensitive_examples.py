"""Labelled training messages for the sensitive-content classifier (money, legal, medical, security, none).

Written for Tiergate as templates with fillers, in English and German, separately from the test file
``tests/data/sensitive_messages.jsonl`` (never read here): the classifier is judged on messages it
never saw. Harmless look-alikes (prices, product texts about locks and password apps, a colleague
named Sue, a tennis court) are the ``none`` class, so the model learns the matter, not the word.
The template index is the group: whole templates are held out to choose the threshold.
"""
from __future__ import annotations

import random

SEED = 29
PER_TEMPLATE = 8

FILL = {
    "amount": ["49 €", "€120", "$75", "1,800 euros", "230 USD", "£60", "12.99", "3.400 €", "899 dollars", "65 Euro"],
    "item": ["jacket", "coffee machine", "online course", "phone", "sofa", "gym membership", "hotel stay", "printer",
             "bike", "software licence", "tickets", "cleaning service"],
    "who": ["The customer", "A client", "Mrs Novak", "Our tenant", "The buyer", "A guest", "Herr Vogel", "The patient",
            "A user", "Our supplier"],
    "kunde": ["Der Kunde", "Die Kundin", "Ein Gast", "Frau Yilmaz", "Herr Braun", "Unser Lieferant", "Der Mieter"],
    "drug": ["ibuprofen", "paracetamol", "aspirin", "metoprolol", "ramipril", "amoxicillin", "sertraline", "warfarin",
             "levothyroxine", "omeprazole", "insulin", "prednisolone", "cetirizine", "tramadol", "diclofenac",
             "simvastatin", "apixaban", "citalopram", "melatonin", "metformin"],
    "drug2": ["my blood pressure pills", "the pill", "antibiotics", "my heart medication", "sleeping tablets",
              "antidepressants", "blood thinners", "thyroid tablets", "my inhaler", "painkillers"],
    "symptom": ["chest pain", "a high fever", "a rash all over", "dizziness", "shortness of breath", "swollen lips",
                "a bad headache for days", "numb fingers", "stomach cramps", "blood in the urine"],
    "person_rel": ["my daughter", "my son", "my mother", "an employee", "a customer", "a colleague", "my husband",
                   "my 3-year-old", "a guest", "our trainee"],
    "system": ["shop admin", "email account", "Instagram account", "online banking", "WordPress site", "CRM",
               "cloud storage", "accounting software", "Microsoft 365 tenant", "domain account"],
    "country": ["Nigeria", "China", "Brazil", "Russia", "an unknown country", "Vietnam", "abroad", "the Netherlands"],
    "secret": ["Hx72!pqLm", "Winter2025#", "Bakery!99", "qwerty123", "S3cure_Shop", "Fruehling24", "Tr0mpete!",
               "pass4shop", "Kaffee2023", "Zebra#771"],
    "product": ["ceramic mug", "password manager app", "door lock", "first aid kit", "herbal tea", "yoga mat",
                "legal pad", "medicine cabinet", "phone case", "security camera", "pill organiser", "safe box",
                "tennis racket", "bank holiday hamper", "smart lock", "invoice book", "charging cable", "vitamin gummies"],
    "produkt": ["Passwort-Manager", "Erste-Hilfe-Set", "Türschloss", "Kräutertee", "Tresor", "Pillendose",
                "Yogamatte", "Kaffeetasse", "Überwachungskamera", "Fahrradschloss"],
    "channel": ["Instagram", "LinkedIn", "our newsletter", "the homepage", "a flyer", "Facebook", "TikTok", "our blog"],
    "name": ["Sue", "Mark", "Jana", "Tom", "Priya", "Lukas", "Chen", "Maria"],
}

TEMPLATES: dict[str, list[str]] = {
    "money": [
        "{who} wants a refund for the {item}, {amount}, because it broke after two days",
        "{who} says we charged {amount} twice this month, please draft a reply",
        "I cancelled the {item} weeks ago but the money was still taken from my account",
        "{who} opened a dispute with their bank over the {amount} payment for the {item}",
        "Draft a polite reminder: invoice for the {item} ({amount}) is 30 days overdue",
        "{who} demands the deposit back after cancelling the {item}",
        "Write a reply: {who} says they never agreed to the renewal and wants the {amount} reversed",
        "Please answer {who}: their payment of {amount} was returned by the bank",
        "{who} claims the {item} was never delivered and wants their money returned",
        "How do we handle a chargeback of {amount} on the {item} order?",
        "Send a final notice before we hand the unpaid {amount} to a debt collector",
        "{who} asks why {amount} was debited after they cancelled the {item}",
        "We owe {who} {amount} for the returned {item}, write the confirmation",
        "{who} paid {amount} into the wrong account, how do we get it back?",
        "Compose an answer: {who} wants compensation of {amount} for the delayed {item}",
        "{kunde} möchte das Geld für den {item} zurück, {amount}",
        "{kunde} hat {amount} doppelt überwiesen und bittet um Rückzahlung",
        "Bitte Mahnung formulieren: Rechnung über {amount} seit 6 Wochen offen",
        "{kunde} hat die Lastschrift über {amount} zurückgehen lassen, was schreiben wir?",
        "{kunde} verlangt eine Erstattung, weil der {item} defekt war",
        "Trotz Kündigung wurde bei {kunde} weiter abgebucht, Antwort bitte",
        "{kunde} bestreitet die Forderung über {amount}",
    ],
    "legal": [
        "{who} says they will sue us over the {item} if we don't answer by Friday",
        "{who} threatens to go to court because of the {item}",
        "We got a letter from a lawyer about the {item}, please summarise it",
        "{who} says our terms for the {item} are illegal and he'll report us",
        "An ex-employee is taking us to the labour court, draft a reply to her solicitor",
        "Someone used our photos without permission, write a formal demand to remove them",
        "Is our return policy for the {item} legally valid in Germany?",
        "{who} wants all their personal data erased under GDPR, otherwise a complaint",
        "Can we terminate the contract with {who} without notice?",
        "{who} says the {item} injured him and he's claiming damages",
        "Reply to a cease and desist about our product name",
        "{who} threatens legal steps if the {item} isn't replaced",
        "Our landlord wants to end the lease early, what rights do we have?",
        "A competitor accuses us of copying their design and wants us to stop selling the {item}",
        "What happens if we ignore the court summons about the {item}?",
        "{kunde} droht mit dem Anwalt wegen des {item}",
        "{kunde} will uns wegen des {item} verklagen",
        "Wir haben eine Abmahnung wegen unserer Produktbilder erhalten",
        "Darf ich den Arbeitsvertrag in der Probezeit fristlos beenden?",
        "{kunde} fordert Schadensersatz und droht mit Gericht",
        "Antwort an die Kanzlei der Gegenseite entwerfen, Frist läuft Freitag ab",
        "{kunde} beschwert sich bei der Verbraucherzentrale und droht mit Klage",
    ],
    "medical": [
        "Can I take {drug} together with {drug2}?",
        "How much {drug} is safe for {person_rel}?",
        "{person_rel} has {symptom}, should we call a doctor?",
        "Is {drug} safe during pregnancy?",
        "What are the side effects of {drug}?",
        "{person_rel} took too much {drug}, what should we do?",
        "Can {person_rel} drink alcohol while on {drug}?",
        "A customer asks if our {product} is okay with {drug2}",
        "What dose of {drug} do you give a child of 20 kg?",
        "{person_rel} fainted in the shop and now has {symptom}",
        "Should I stop taking {drug} before my operation?",
        "Explain these lab results: cholesterol 290, HbA1c 7.9",
        "{who} reacted badly to our treatment and now has {symptom}",
        "My doctor prescribed {drug}, can I still take {drug2}?",
        "Does {drug} interact with {drug2}?",
        "Kann ich {drug} zusammen mit {drug2} nehmen?",
        "Wie viel {drug} darf {person_rel} nehmen?",
        "{person_rel} hat {symptom}, müssen wir ins Krankenhaus?",
        "Ist {drug} in der Stillzeit erlaubt?",
        "Welche Nebenwirkungen hat {drug}?",
        "{kunde} hat nach der Behandlung starke Beschwerden und Schmerzen",
    ],
    "security": [
        "Someone logged into our {system} from {country} and changed the email",
        "Our {system} was hacked last night, what do we do first?",
        "The password for the {system} is {secret}, please log in and check the settings",
        "Our files were encrypted and there's a note demanding bitcoin",
        "I entered my {system} password on a fake login page",
        "An employee who left still has access to the {system}",
        "There is a new admin in our {system} that nobody created",
        "We received a threat: pay or they publish our customer data",
        "Here is the API key for the {system}: key_{secret}, why does it fail?",
        "Login: admin, password: {secret} - please fix the {system} backup",
        "Our {system} sends emails we didn't write and we can't sign in",
        "A fake invoice from our own address asked a client to pay a new bank account",
        "The laptop with the {system} access was stolen from the office",
        "Somebody is trying thousands of passwords on our {system}",
        "Our database was leaked and is being sold online",
        "Jemand hat sich aus {country} in unser {system} eingeloggt",
        "Unser {system} wurde gehackt, was tun?",
        "Das Passwort für {system} lautet {secret}, bitte Einstellungen prüfen",
        "Alle Dateien sind verschlüsselt, es gibt eine Erpressernachricht",
        "Ich habe meine Zugangsdaten auf einer gefälschten Seite eingegeben",
        "Ein ehemaliger Mitarbeiter kann sich noch in {system} anmelden",
    ],
    "none": [
        "Write a product description for our {product}, {amount}",
        "Create a {channel} post about our {product}, now {amount}",
        "Translate into German: 'The {product} costs {amount} and ships in 2 days'",
        "A shop sells 40 {item} a week at {amount} each. What is the monthly revenue?",
        "{name} from the office has a birthday tomorrow, write a card",
        "Ask {name} to send me the sales figures for March",
        "Give me five slogans for our {product}",
        "Summarise our meeting notes: new opening hours and a summer party",
        "Write a job ad for a part-time cashier",
        "Book the tennis court for the team event on Friday",
        "Write a blog post with tips for keeping your passwords safe",
        "Explain what two-factor authentication is for our customer newsletter",
        "Write the text for the 'Reset password' button and its help text",
        "Describe our new security camera with night vision, {amount}",
        "Write a thank-you email for the order of 3 {item}",
        "List the key points of this article about productivity",
        "Write a menu description for our dish of the day",
        "What is 15% of {amount}?",
        "Create a flyer for our yoga class for a healthy back",
        "Write an Instagram caption for the first anniversary of our pharmacy",
        "Classify this review as positive or negative: 'Great {product}, fast shipping'",
        "Convert this list of prices into a table: {product} {amount}, {product} {amount}",
        "Write a newsletter about our new online course on cybersecurity basics",
        "Plan a team lunch for 8 people with a budget of {amount}",
        "Give me name ideas for a law-themed escape room game",
        "Draft the FAQ answer: how do I create an account in our app?",
        "Write a friendly welcome email for new customers",
        "Rewrite this headline in title case: best {product} deals this week",
        "Write a short story about a detective and a stolen cake for kids",
        "Make a checklist for closing the shop in the evening",
        "Schreib eine Produktbeschreibung für unseren {produkt}, {amount}",
        "Erstelle einen {channel}-Beitrag über unseren {produkt}",
        "{name} hat Geburtstag, schreib einen lustigen Gruß",
        "Was sind 19 % von {amount}?",
        "Schreib einen Text für den Button 'Konto erstellen'",
        "Fasse die Notizen zusammen: neues Logo, neue Webseite, Sommerfest",
        "Übersetze ins Englische: 'Der {produkt} kostet {amount}'",
        "Schreib einen Werbetext für unser Gericht des Tages",
        "Gib mir zehn Ideen für einen Newsletter über Gartenpflege",
        "Erstelle eine Stellenanzeige für eine Bürokraft",
        "Schreib einen Blogartikel über sichere Passwörter für Kunden",
        "Erstelle eine Checkliste für die Inventur",
        "Write a post about our café at the tennis club, the favourite spot after a match",
        "Our new food court stand sells {product} for {amount}, write the sign",
        "Announce the basketball court renovation at our sports centre",
        "Write a caption: the whole team on the volleyball court at the summer party",
        "Write a thank-you note to {name} for organising the charity dinner",
        "Describe our new {item} range for the shop window, from {amount}",
        "Write a cheerful weekend message for our customers",
        "Create a short quiz about famous detectives for our book club",
        "Write an ad for our physiotherapy studio's new opening hours",
        "Write a story about a patient little turtle for our children's corner",
    ],
}


def expand(template: str, rng: random.Random) -> str:
    text = template
    while "{" in text:
        start = text.index("{")
        end = text.index("}", start)
        key = text[start + 1:end]
        text = text[:start] + rng.choice(FILL[key]) + text[end + 1:]
    return text


def examples() -> list[dict]:
    """``[{text, label, group}]``; label is a category or ``none``; group is ``<label>/<template index>``."""
    rng = random.Random(SEED)
    rows = []
    for label, templates in TEMPLATES.items():
        for index, template in enumerate(templates):
            seen = set()
            for _ in range(PER_TEMPLATE):
                text = expand(template, rng)
                if text not in seen:
                    seen.add(text)
                    rows.append({"text": text, "label": label, "group": f"{label}/{index}"})
    return rows
