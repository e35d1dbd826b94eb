"""Built-in sensitive-content lexicons (English and German) that cover paraphrase, not just keywords.

The policy's ``rules.sensitive.categories`` are the operator's own word lists; these phrase patterns
sit beside them and catch how people actually write about a money dispute ("still took the money",
"ich will mein Geld zurück"), a legal threat ("see you in court", "mein Anwalt"), a medical question
(a drug name from ``DRUGS``, a dose, a symptom) or a security incident (a login from abroad, files
renamed with a ransom note, a password pasted into the text). Each pattern names the matter, not a
word that also sells products: "password manager app" and "medicine ball" stay quiet, "my password
is ..." does not. ``tests/data/sensitive_messages.jsonl`` measures recall and false alarms.
"""
from __future__ import annotations

import ahocorasick

from app.routing.matching import PatternSet

# Common medicines by international non-proprietary name plus frequent brand names in the EU/US
# (names are facts; the list was written for Tiergate from public drug-name knowledge).
DRUGS = """
paracetamol acetaminophen ibuprofen aspirin naproxen diclofenac metamizole novalgin novaminsulfon codeine tramadol
tilidine oxycodone morphine fentanyl hydrocodone buprenorphine methadone gabapentin pregabalin lyrica celecoxib
etoricoxib ketoprofen tylenol advil nurofen aleve voltaren panadol excedrin
amlodipine lisinopril ramipril enalapril candesartan valsartan losartan olmesartan telmisartan metoprolol bisoprolol
atenolol propranolol carvedilol nebivolol hydrochlorothiazide torasemide furosemide spironolactone digoxin
atorvastatin simvastatin rosuvastatin pravastatin ezetimibe warfarin phenprocoumon marcumar apixaban rivaroxaban
edoxaban dabigatran eliquis xarelto clopidogrel ticagrelor heparin enoxaparin clexane nitroglycerin
metformin insulin glibenclamide gliclazide sitagliptin empagliflozin dapagliflozin semaglutide ozempic wegovy
liraglutide tirzepatide mounjaro levothyroxine thyroxin thyroxine euthyrox carbimazole
omeprazole pantoprazole esomeprazole lansoprazole ranitidine famotidine loperamide metoclopramide ondansetron
domperidone mesalazine
amoxicillin penicillin ampicillin doxycycline azithromycin clarithromycin ciprofloxacin levofloxacin cefuroxime
cephalexin clindamycin metronidazole nitrofurantoin fosfomycin trimethoprim cotrimoxazole antibiotic antibiotics
antibiotika aciclovir valaciclovir oseltamivir fluconazole
sertraline citalopram escitalopram fluoxetine paroxetine venlafaxine duloxetine mirtazapine amitriptyline bupropion
trazodone lithium quetiapine olanzapine risperidone aripiprazole haloperidol lamotrigine valproate levetiracetam
carbamazepine diazepam lorazepam alprazolam clonazepam temazepam zolpidem zopiclone valium xanax tavor
methylphenidate ritalin lisdexamfetamine adderall melatonin antidepressant antidepressants antidepressiva
prednisone prednisolone dexamethasone hydrocortisone cortisone cortison budesonide salbutamol albuterol
formoterol salmeterol montelukast cetirizine loratadine desloratadine fexofenadine diphenhydramine
epinephrine adrenaline epipen sildenafil tadalafil viagra finasteride tamsulosin isotretinoin methotrexate
allopurinol colchicine alendronate estradiol progesterone levonorgestrel contraceptive contraceptives
xylometazoline pseudoephedrine ambroxol acetylcysteine johanniskraut cbd
"""
MULTIWORD_DRUGS = ["st john's wort", "st. john's wort", "blood thinner", "blood thinners", "birth control pill"]

_DRUG_NAMES = sorted(set(DRUGS.split()) | set(MULTIWORD_DRUGS), key=len, reverse=True)

PATTERNS: dict[str, list[str]] = {
    "money": [
        r"\brefund\w*", r"\breimburs\w*", r"\bmoney back\b", r"\b(?:my|our) money\b", r"\bwants? (?:his|her|their) money\b",
        r"\bcharge ?backs?\b", r"\bdisput\w+", r"\b(?:pay|give|send) (?:\w+ )?back\b", r"\bsend (?:one|it|that) back\b",
        r"\b(?:charged|billed|debited|invoiced) (?:\w+ ){0,3}(?:twice|again|wrongly|although|after|even though)",
        r"\b(?:double|over)[ -]?(?:charg|bill)\w*", r"\bstill (?:took|charged|billed|debited|taken)\b",
        r"\b(?:took|taken|take|debit\w*|withdr[ae]w\w*) (?:\S+ ){0,4}(?:from|off) (?:my|his|her|their|the) (?:card|account|credit card)\b",
        r"\breverse\w* (?:the |a |his |her )?(?:payment|charge|difference|transaction)", r"\bpayment (?:was |got )?reversed\b",
        r"\binvoices?\b", r"\bunpaid\b", r"\boverdue\b", r"\barrears\b", r"\bdunning\b", r"\bcollection agency\b",
        r"\bdebt (?:collect\w*|recovery)\b", r"\bdebt collector\b", r"\b(?:still|we|you) owe\b", r"\bowe[sd]? (?:us|me|them|him|her)\b", r"\bcredit note\b", r"\bpayment plan\b", r"\bback taxes\b", r"\btax office\b",
        r"\bdeposit (?:will be |was |is )?(?:withheld|kept|retained)\b", r"\bkept (?:\S+ ){0,3}(?:deposit|money|payment)\b",
        r"\b(?:no-show|cancellation|return) fee\b", r"\bpayouts?\b", r"\bcompensation\b",
        r"\bwhere is my money\b", r"\bbank details\b",
        r"\bdirect debit\b", r"\bbounced\b",
        r"\b(?:reason code|card issuer|credit card company)\b",
        # German
        r"\bgeld zur(?:ü|ue)ck\b", r"\berstatt\w*", r"\br(?:ü|ue)ckerstatt\w*", r"\br(?:ü|ue)cklastschrift\w*",
        r"\babgebucht\b", r"\babbuchung\w*", r"\bdoppelt (?:bezahlt|abgebucht|berechnet)\b", r"\bangefochten\b",
        r"\brechnung\w*", r"\bmahnung\w*", r"\binkasso\w*", r"\bkaution\b", r"\bstornogeb(?:ü|ue)hr\w*",
        r"\bnachzahlung\w*", r"\bforderung\w*", r"\bwiderspr\w+ der rechnung\b", r"\bgutschrift\w*",
        r"\bzahlungsr(?:ü|ue)ckstand\w*", r"\boffene(?:n)? (?:rechnung|betr(?:ä|ae)ge|posten)\w*",
    ],
    "legal": [
        r"\blawyers?\b", r"\battorneys?\b", r"\bsolicitors?\b", r"\blaw firm\b", r"\blawsuits?\b", r"\blegal (?:action|steps|proceedings)\b",
        r"\b(?:take|taking|took|see|drag|bring)\w* (?:you|us|them|him|her) (?:to|in) (?:court|small claims)",
        r"\b(?:in|to|before) (?:court|a judge)\b", r"\bin front of a judge\b", r"\bsmall claims\b", r"\bcourt order\b",
        r"\b(?:i|we|they|he|she)(?:'ll| will| would| are going to| is going to)? su(?:e|ing)\b", r"\bsue (?:you|us|them|him|her)\b",
        r"\bsued\b", r"\btribunal\b", r"\bombudsman\b", r"\barbitration\b", r"\bsubpoena\w*", r"\bcease[- ]and[- ]desist\b",
        r"\binfring\w*", r"\btrademark\w*", r"\bwithout a licen[cs]e\b", r"\btakedown\b", r"\bdamages\b",
        r"\bconsumer protection\b", r"\btrading standards\b", r"\bdata protection authority\b", r"\bgdpr\b",
        r"\bdelete (?:all )?(?:his|her|my|their) (?:personal )?data\b", r"\bdismiss\w*\b", r"\bunfairly\b", r"\bfire (?:an?|the|our|this) (?:employee|worker|staff member)\b",
        r"\bharass\w*", r"\bbreach\w* of\b", r"\bin breach\b", r"\bunenforceable\b", r"\bvoid\b", r"\bnon-compete\b",
        r"\bis (?:it|this|that) (?:legal|allowed)\b", r"\blegally\b", r"\bnot allowed under\b", r"\bfined\b", r"\bappeal\b",
        r"\bcompensation claims?\b", r"\bterminat\w+ (?:the|our|this) (?:\w+ )?(?:agreement|contract|lease)\b",
        r"\bwarning letter\b", r"\babmahnung\w*", r"\bpolice\b", r"\bfraud\b", r"\binjury\b",
        # German
        r"\banw(?:a|ä)lt\w*", r"\bklage\w*", r"\bverklag\w*", r"\bvor gericht\b", r"\bgerichtlich\w*", r"\bdsgvo\b",
        r"\bdatenschutzbeh(?:ö|oe)rde\b", r"\bk(?:ü|ue)ndig\w*", r"\bfristlos\w*", r"\beinstweilige\w*", r"\bverf(?:ü|ue)gung\b",
        r"\bschadensersatz\w*", r"\brechtlich\w* schritte\b", r"\brechtsweg\w*", r"\bverstoßen\b", r"\bvertrag\w*", r"\bvereinbarung\b",
    ],
    "medical": [
        r"\b\d+(?:[.,]\d+)? ?(?:mg|µg|mcg|iu)\b", r"\bdos(?:e|es|age|ing|is)\b(?! of (?:inspiration|motivation|good|fun|plant))",
        r"\bpainkillers?\b", r"\bschmerzmittel\b", r"\bblood[- ](?:pressure|thinners?|test|sugar)\b", r"\bblutdruck\w*",
        r"\b(?:my|his|her|these|those|sleeping|pressure|thyroid|heart|water|diet|birth control) (?:tablets|pills)\b", r"\btabletten\b", r"\bsleeping pills?\b", r"\bpregnan\w+", r"\bschwanger\w*",
        r"\bchest pain\b", r"\bnumb\b", r"\bfever\b", r"\bfieber\b", r"\bseizure\w*", r"\bheadache\b", r"\bblurry vision\b",
        r"\bswollen\b", r"\bschwellung\w*", r"\brash\b", r"\bausschlag\b", r"\bpalpitations?\b", r"\bbitten\b", r"\btetanus\b",
        r"\bswallowed\b", r"\banaphyla\w+", r"\ballerg\w+", r"\bsuicid\w+", r"\bbewusstlos\b", r"\batemnot\b", r"\bschwindel\b",
        r"\bnebenwirkung\w*", r"\bside[- ]effects?\b", r"\binteractions?\b", r"\bsurgery\b", r"\b(?:to|in|at|from) (?:the )?hospital\b", r"\bkrankenhaus\b",
        r"\bemergency\b", r"\bpatients\b",
        r"\bpatient(?:'s)? (?:\w+ )?(?:asks|has|needs|notes|records?|data|discharge|file|letter|intake)\b", r"\bdiabet\w+", r"\bzum arzt\b", r"\bsymptoms?\b",
        r"\bdiagnos\w+", r"\bprescri\w+", r"\bmedication\w*", r"\bmedikament\w*", r"\bdrink alcohol\b", r"\balkohol\b",
        r"\bsafe (?:to (?:take|use|give|drink)|during|while|for (?:a|my|our) \d+-year-old)\b",
        r"\b(?:okay|ok) for (?:a|my) \d+-year-old\b", r"\bunwohl\b", r"\bkrank\w*",
    ],
    "security": [
        r"\b(?:logged|log|logs|signed|sign) ?in(?:to)? (?:\S+ ){0,4}from (?!home\b|the office\b)", r"\beingeloggt\b",
        r"\bransom\w*", r"\bl(?:ö|oe)segeld\w*", r"\bbitcoin\b", r"\b\d+(?:\.\d+)? ?btc\b",
        r"\.(?:locked|encrypted|crypt|enc)\b", r"\bencrypted (?:overnight|files|our|all)\b", r"\b(?:were|was|got) encrypted\b",
        r"\b(?:password|passwort|pw|pwd|kennwort)\s*(?:is|ist|lautet|=|:)\s*\S+", r"\bpass\s*[=:]\s*\S+", r"\b(?:with|mit) (?:pw|password|passwort) \S+",
        r"(?:password|passwd|pass|secret|token)[a-z_]*\s*=\s*\S+",
        r"\blogin (?:for|to|zum|f(?:ü|ue)r) (?:the |our |unser\w* )?\S+ (?:\S+ )?is\b", r"\bzugangsdaten\b",
        r"\b(?:benutzer|user(?:name)?)\s*:?\s*\S+,? (?:passwort|password|pw)\b",
        r"\bhacked\b", r"\bgehackt\b", r"\btaken over\b", r"\b(?:(?:ü|ue)bernommen|kompromittiert)\b", r"\bcompromised\b",
        r"\bclicked (?:on )?a link\b", r"\bauf einen link geklickt\b", r"\bentered my (?:details|password|login|bank)",
        r"\bdefaced\b", r"\bbrute[- ]?forc\w*", r"\bstolen\b", r"\bgestohlen\b", r"\bstill has access\b", r"\bnoch zugriff\b",
        r"\b(?:nobody|no one|i didn'?t|we didn'?t|didn'?t) (?:create|created|authori[sz]e|authori[sz]ed|request|requested|write)\b",
        r"\bunknown (?:device|process|merchant|program|login)\b", r"\bunbekannte\w* (?:programm|ger(?:ä|ae)t|anmeldung)\b",
        r"\b(?:xmrig|cryptominer|crypto miner|keylogger|trojan)\b", r"\bcard data\b", r"\bfor sale on\b", r"\bcan'?t log in\b",
        r"\b(?:reset|changed) the password\b", r"\bgave (?:her|him|them|my|his) (?:login|password)\b",
        r"\bpretending to be\b", r"\bnew bank account\b",
        r"\bforwarding rules?\b", r"\bsends? (?:messages|spam|emails?) (?:i|we) didn'?t\b", r"\bsent spam\b", r"\bspam an alle\b",
        r"\bprivate key\b", r"\bapi[- ]?(?:key|schl(?:ü|ue)ssel)\s*(?:is|ist|=|:)", r"\bmy key\b", r"\bwi-?fi password is\b",
        r"\b(?:no|without) (?:disk )?encryption\b", r"\b(?:datenleck|datendiebstahl|sicherheitsvorfall)\b",
        r"\b(?:data|customer data|datenbank) (?:was |wurde )?(?:copied|kopiert|leaked)\b",
    ],
}

# Read on the lower-cased text. A long text is read up to MAX_CHARS: the policy's own credential
# patterns still scan all of it.
MAX_CHARS = 6_000


# One Aho-Corasick pass over the text says which patterns to try where (``matching.PatternSet``).
LEXICON = PatternSet([(category, pattern) for category, patterns in PATTERNS.items() for pattern in patterns], flags=0)
_MULTIWORD_DRUGS = [name for name in _DRUG_NAMES if " " in name]
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzäöüß")  # a word: a letter, then letters and apostrophes
DRUG_INDEX = ahocorasick.Automaton()
for _name in _DRUG_NAMES:
    DRUG_INDEX.add_word(_name, _name)
DRUG_INDEX.make_automaton()


def is_word(lowered: str, start: int, end: int) -> bool:
    """Whether ``lowered[start:end]`` is a whole word: letters (and apostrophes) do not run on at either end."""
    before = start - 1
    while before >= 0 and lowered[before] == "'":
        before -= 1  # a quote before a word does not join it to the text before, a letter before the quote does
    return ((before < 0 or lowered[before] not in _LETTERS)
            and (end == len(lowered) or (lowered[end] not in _LETTERS and lowered[end] != "'")))


def drug_names(lowered: str) -> list[str]:
    """Drug names in a lower-cased text (one Aho-Corasick pass): whole words, then the multi-word names."""
    single, multiword = {}, set()
    for last, name in DRUG_INDEX.iter(lowered):
        if " " in name:
            multiword.add(name)
        elif is_word(lowered, last + 1 - len(name), last + 1):
            single.setdefault(name)
    return list(single) + [name for name in _MULTIWORD_DRUGS if name in multiword]


def lexicon_hits(text: str) -> dict[str, list[str]]:
    """``{category: [matched phrases]}`` for every built-in category the text hits."""
    lowered = text[:MAX_CHARS].lower()
    found: dict[str, list[str]] = {}
    drugs = drug_names(lowered)
    if drugs:
        found["medical"] = drugs[:3]
    for category, match in LEXICON.matches(lowered, lowered, first_only=True):
        hits = found.setdefault(category, [])
        phrase = match.group(0).strip()
        if len(hits) < 3 and phrase and phrase not in hits:
            hits.append(phrase)
    return {category: hits for category, hits in found.items() if hits}
