"""Labelled SME requests for the task-type head, written for Tiergate's default task types.

Each task type has a handful of request *templates* (how a small business would phrase the task in an
n8n/Make/Zapier step or an inbox) and shared fillers (products, companies, languages, snippets). The
generator expands them deterministically. The template index is the group of an example: the held-out
split keeps whole templates out of training, so its accuracy measures unseen phrasing, not memorised
sentences. None of these rows come from ``tests/data/task_types_labelled.jsonl`` (the outside set the
bench reports on); they were written separately.
"""
from __future__ import annotations

import random

SEED = 13
PER_TEMPLATE = 12

FILL = {
    "company": ["Müller Maschinenbau GmbH", "Acme Plumbing Ltd", "Bella's Bakery", "Nordlicht Design", "BrightPath Dental",
                "Kowalski & Sons", "GreenLeaf Organics", "Tanaka Trading Co", "Sunrise Yoga Studio", "Delta Freight BV"],
    "person": ["Sarah Lim", "Jonas Weber", "Priya Nair", "Tom O'Neill", "Chen Wei", "Maria García", "Lukas Novak",
               "Aisha Bello", "Emma Dubois", "Kenji Sato"],
    "product": ["ceramic coffee mug", "standing desk", "organic face cream", "wireless earbuds", "oak dining table",
                "running shoes", "espresso machine", "kids' rain jacket", "LED desk lamp", "yoga mat"],
    "lang": ["German", "French", "Spanish", "Italian", "Japanese", "Dutch", "Portuguese", "Polish", "English", "Chinese"],
    "labels": ["B2B or B2C", "hot, warm or cold", "billing, shipping or product", "positive, neutral or negative",
               "spam or not spam", "urgent or routine", "sales, support or partnership", "lead, customer or vendor"],
    "field": ["invoice number", "order date", "customer name", "phone number", "delivery address", "total amount",
              "email address", "tracking number", "VAT ID", "due date"],
    "doc": ["meeting notes", "supplier call transcript", "email thread", "quarterly report", "customer feedback survey",
            "project update", "board minutes", "long Slack discussion", "webinar transcript", "market research report"],
    "format": ["title case", "ISO dates (YYYY-MM-DD)", "a bullet list", "uppercase SKU codes", "a postal address block",
               "our product naming convention", "a CSV line", "sentence case", "E.164 phone numbers", "a numbered list"],
    "channel": ["Instagram", "LinkedIn", "our newsletter", "Facebook", "the shop homepage", "a Google ad", "TikTok",
                "an email campaign", "a flyer", "our blog"],
    "lang_code": ["Python", "JavaScript", "TypeScript", "PHP", "SQL", "Go", "Java", "Ruby", "C#", "Bash"],
    "topic": ["open a second location", "raise our prices by 10%", "switch to a subscription model", "hire a sales rep",
              "expand into Austria", "drop our lowest-margin product line", "move our shop to Shopify",
              "take a bank loan for a new machine", "partner with a wholesaler", "launch a B2B offering"],
}

TEMPLATES: dict[str, list[str]] = {
    "classification": [
        "Classify this lead as {labels}: {company}, contact {person}",
        "Which category does this message belong to ({labels})? '{person} asked about the {product}'",
        "Put this customer review into one of these labels: {labels}. Review: 'The {product} is fine I guess'",
        "Label the following ticket {labels}: '{person} from {company} writes about the {product}'",
        "Decide if this inquiry is {labels}. Sender: {person}, {company}",
        "Tag the sentiment of this comment: 'Loved the {product}, will order again'",
        "Is this email spam? 'Congratulations {person}, you won a free {product}, click here'",
        "Sort this incoming request into {labels}: {company} wants a quote",
        "Categorize: '{person} cannot find the manual for the {product}'. Options: {labels}",
        "Give one label ({labels}) for this form submission from {person}",
        "What kind of request is this, {labels}? Text: '{company} needs 40 units of {product}'",
        "Assign a priority label to this ticket ({labels}): printer at {company} is down",
        "B2B or B2C? {company}",
        "label: '{person} wants to cancel' -> {labels}?",
        "FW: new inquiry from {company}. Is it {labels}? Reply with the label only",
        "Rate this lead ({labels}) based on the form: company {company}, budget unknown",
    ],
    "list_classification": [
        "Here is a list of leads, label each row {labels}:\n1. {company}\n2. {person}\n3. {company}",
        "Go through these leads and mark every row as {labels}",
        "For each row of this spreadsheet, tag the contact {labels}: {person}; {company}; {person}",
        "Label every ticket in this list with one of {labels}",
        "I have 300 contacts exported from the CRM. Give each row a label: {labels}",
        "Classify each item of this list of orders into {labels}",
        "These are this week's form submissions, one per row. Mark each as {labels}",
        "Batch-label the following rows ({labels}):\n- {company}\n- {person}\n- {company}",
        "Please tag every line of this export: {labels}",
        "Score each lead in the sheet below as {labels}, row by row",
        "Sort all these support tickets, one per line, into {labels}",
        "Each row is a customer comment about the {product}; label every row {labels}",
        "Attached CSV has 500 leads. Add a column with {labels} for every one",
        "For all of the rows below decide {labels}:\n{company}\n{company}\n{person}",
        "Bulk tag these tickets ({labels}), one answer per ticket id",
        "Run through the customer list and classify each entry as {labels}",
    ],
    "extraction": [
        "Extract the {field} from this email: 'Hi, {person} here from {company}, order 4471'",
        "Pull out the {field} and the {field} from the text below into JSON",
        "Find the {field} in this message and return it as JSON: '{person}, {company}'",
        "Get the {field} out of this invoice text: {company}, invoice 2024-118",
        "Parse this signature block and give me name, phone and email: {person}, {company}",
        "From the order confirmation below, return {field}, {field} and {field} as fields",
        "Read this PDF text and extract the {field}: {company} delivery note",
        "Capture the {field} from the form text into a JSON object",
        "What is the {field} in this email? Answer with a JSON field only",
        "Turn this email into structured data: sender, {field}, {field}",
        "Pick out every {field} mentioned in the text and list them as JSON",
        "Extract the contact details (name, company, {field}) from: '{person} at {company}'",
        "invoice no. + total from this: {company} INV-2291 EUR 1.240,00",
        "Can you get the {field} from the mail below?",
        "Fill these fields from the text: name, {field}, {field}",
        "I need just the {field} out of this booking confirmation",
    ],
    "crm_cleanup": [
        "Clean up this CRM contact: '{person}, {company}., +49 30 1234567, DE'",
        "Normalise the company name and split the name into first and last: {person} / {company}",
        "Is this contact a duplicate of one we already have? {person}, {company}",
        "Dedupe this contact record against the batch: {company}",
        "Fix the formatting of this CRM record: name {person}, company {company}, phone 030 1234567",
        "Standardise this lead record for HubSpot: {company}, {person}, country germany",
        "Validate the email and phone of this contact and give the country code: {person}",
        "Merge check: are '{company}' and '{company} GmbH' the same account?",
        "Tidy this customer record before import: {person}; {company}; mail {person}@example.com",
        "Normalize this Pipedrive organization: '{company} ltd.'",
        "Clean the contact fields of this record and flag a likely duplicate: {person}",
        "Bring this address book entry into canonical CRM form: {person}, {company}",
        "crm record cleanup: '{company} , {person} ,030-1234567'",
        "These two contacts look like the same person, check and merge: {person} / {person}",
        "Split full name into first/last and fix the company spelling: {person}, {company}",
        "Prepare this contact for the CRM import: email upper case, phone without country code: {person}",
    ],
    "format_rewrite": [
        "Rewrite these product names in {format}: {product}; {product}",
        "Reformat this list of dates into {format}",
        "Convert the following addresses to {format}",
        "Format these phone numbers as {format}",
        "Turn this paragraph into {format}: we sell the {product} and the {product}",
        "Change the capitalisation of these titles to {format}",
        "Put this text into {format}, keep every fact: {company} opens on Monday",
        "Make this shipping address fit {format}: {person}, {company}",
        "Rewrite in the fixed format 'Brand - Product - Size': {product} large",
        "Convert the table below into {format}",
        "Normalise these SKUs to {format}",
        "Reformat the following notes as {format}",
        "make these {format}: {product}, {product}, {product}",
        "Can you clean up the formatting of this address into {format}?",
        "Rewrite the dates below as {format}, change nothing else",
        "Turn my messy notes into {format}",
    ],
    "translation": [
        "Translate this into {lang}: 'Your order has shipped and will arrive on Friday'",
        "Please translate the product description of the {product} into {lang}",
        "Can you put this customer email into {lang}?",
        "Translate to {lang}, keep the placeholders: 'Hello {{name}}, your invoice is ready'",
        "What does this say in {lang}? 'Wir haben Ihre Bestellung erhalten'",
        "{lang} version of this text please: opening hours change next week",
        "Translate the following FAQ answer into {lang}",
        "Render this message from {person} in {lang}",
        "I need this newsletter paragraph in {lang}",
        "Translate the subject line into {lang}: 'Spring sale on every {product}'",
        "Convert this text from {lang} into English",
        "Give me a {lang} translation of our returns note",
        "in {lang} please: 'Thank you for your order'",
        "How do I say 'your parcel is on its way' in {lang}?",
        "Translate the email below for our {lang} customer",
        "{lang} -> English: 'Danke für Ihre Geduld'",
    ],
    "faq_answer": [
        "Using the FAQ below, answer: what are your opening hours on Saturday?",
        "Answer this customer question from our help snippets only: how long does shipping take?",
        "Customer asks: do you ship the {product} to Switzerland? Snippets: we ship within the EU",
        "From the knowledge base text, what is the return policy for the {product}?",
        "Based on these FAQ entries, can I pay by invoice?",
        "Look up in the FAQ: where can I pick up my order?",
        "Question from the chat widget: how do I reset my account? Use the help centre text",
        "Answer from the snippets: is the {product} dishwasher safe?",
        "Reply briefly using our FAQ: what is the delivery time to Austria?",
        "What does our FAQ say about cancelling a booking?",
        "Use the help articles to answer: how do I change my delivery address?",
        "Answer the visitor's question from the FAQ: do you have a store in Berlin?",
        "Can I return the {product} after 30 days?",
        "Do you offer gift wrapping?",
        "How much is shipping to the UK? Answer from the FAQ text",
        "Is there parking near your store? Check the help page text",
    ],
    "summary": [
        "Summarize these {doc}: we agreed on a new delivery schedule with {company}",
        "Give me the key points of this {doc}",
        "TL;DR of the following {doc} please",
        "Write a short recap of this {doc} for the team",
        "Condense this {doc} into five bullets with decisions and open questions",
        "What were the main takeaways from this {doc}?",
        "Boil down this {doc} to one paragraph for the manager",
        "Summarise the attached {doc} from {person}",
        "Make a brief overview of this {doc}, names and dates included",
        "Create minutes from this {doc}",
        "Shorten this {doc} to what a busy reader needs",
        "Executive summary of the {doc} below, please",
        "summary pls: {doc} from Monday",
        "Can you sum up this {doc} in a few lines?",
        "What did we decide in this {doc}? Short version",
        "Summarize the {doc} for {person} who missed it",
    ],
    "support_reply": [
        "The customer wrote: 'my {product} arrived broken'. Draft a reply",
        "Write a reply to this customer email from {person} about a late delivery",
        "Answer this complaint politely: '{person} says the {product} stopped working'",
        "Draft a response to this support ticket: the {product} is missing a part",
        "Help me reply to {person}, who is angry that the order is delayed",
        "Respond to this customer message in their language: 'Où est ma commande?'",
        "Write the support team's answer to {person} asking to exchange the {product}",
        "Customer service reply needed: {person} received the wrong size",
        "Reply to this review on our shop: 'the {product} was dirty when it arrived'",
        "Compose an answer to the customer who cannot log in to the shop",
        "Draft a friendly reply to this ticket from {company} about a damaged shipment",
        "Please answer this customer's message about the {product} warranty",
        "How should we answer {person}? She wrote that the {product} was charged twice",
        "Write back to the customer who asked why the delivery is late",
        "Suggest a reply to this angry message from {person}",
        "What do we tell the customer whose {product} arrived in the wrong colour?",
    ],
    "copywriting": [
        "Write a product description for our {product}",
        "Create an {channel} post announcing our new {product}",
        "Write three taglines for {company}",
        "Draft a sales letter for {company} offering the {product} to local offices",
        "Write ad copy for {channel} promoting the {product}",
        "Come up with a catchy slogan for our spring sale",
        "Write a short blog post about why customers love the {product}",
        "Compose a newsletter intro for {channel} about our summer collection",
        "Write a LinkedIn post celebrating {company}'s 10th anniversary",
        "Marketing copy for the landing page of the {product}, 100 words",
        "Write an engaging post for {channel} about our new opening hours",
        "Draft the text for a flyer advertising {company}'s services",
        "caption for {channel}: new {product} in stock",
        "We need a catchy headline for the {product} launch",
        "Write a short promo text for {channel} for {company}",
        "Product page text for the {product}, friendly tone",
    ],
    "code_patch": [
        "Fix this bug in my {lang_code} function: it returns None instead of the total",
        "Here's a stack trace from our {lang_code} script, what's wrong and how do I fix it?",
        "Patch this {lang_code} code so it handles an empty list",
        "My {lang_code} code throws a TypeError, can you correct it?",
        "Write a unit test for this {lang_code} function",
        "This {lang_code} snippet has a syntax error, please fix it",
        "Change this function to round prices to two decimals ({lang_code})",
        "Debug this {lang_code} code: the loop never ends",
        "Add input validation to this {lang_code} function",
        "Why does this {lang_code} query return duplicates? Fix it",
        "Write a small {lang_code} function that parses a date string",
        "Update this {lang_code} script so it reads the API key from an environment variable",
        "{lang_code}: my script crashes with KeyError 'id', here is the code",
        "quick fix needed, this {lang_code} function returns the wrong total",
        "Why does this regex not match the email addresses? ({lang_code})",
        "Add error handling to this {lang_code} API call",
    ],
    "code_review": [
        "Review this pull request that touches the billing and the shipping modules",
        "Do a code review of these three files and list the blocking issues",
        "Plan a refactor of our {lang_code} codebase across the order and invoice modules",
        "Review this PR: it changes the database layer and the API handlers",
        "Look over this diff across several files and tell me if it is safe to merge",
        "Architecture review of our {lang_code} service: where are the design problems?",
        "Give a senior engineer's review of this change set, security and tests included",
        "How should we restructure these modules, the code is getting tangled across files?",
        "Review the attached merge request for correctness and maintainability",
        "Audit this {lang_code} code base layout and propose a cross-file refactoring plan",
        "Critically review this pull request from a junior developer",
        "Check these changes to five files for bugs, design issues and missing tests",
        "Can you review our whole checkout module before we release it?",
        "Review the design of this service and the three modules it touches",
        "Our {lang_code} monolith needs restructuring; review it and plan the refactor",
        "Please review PR #42, it rewrites the auth flow across several files",
    ],
    "strategy": [
        "Should we {topic}? Weigh the options for {company}",
        "Help me think through whether to {topic}",
        "Write a go-to-market plan for {company}'s new {product}",
        "What are the trade-offs if we {topic}?",
        "Draft a one-year roadmap for {company}",
        "We are a small bakery considering to {topic}. What would you recommend?",
        "Develop a pricing strategy for the {product}",
        "Build a business plan outline for {company} to {topic}",
        "Long-term, is it smarter to {topic} or to invest in marketing?",
        "Analyse our position against competitors and suggest a strategy for next year",
        "As our advisor, recommend whether to {topic}, with risks and assumptions",
        "Which market should {company} enter next and why?",
        "Do we {topic} or not? Pros and cons please",
        "Is it worth it to {topic}?",
        "Plan the next 12 months for {company}: priorities and risks",
        "Help us decide between two suppliers for the next three years",
    ],
    "unknown": [
        "hello, can you help me with something",
        "Tell me a joke about {product}s",
        "What is the capital of {lang_place}?",
        "Who won the football world cup in 2014?",
        "Explain how photosynthesis works",
        "What's the weather usually like in {lang_place} in May?",
        "Write a poem about the sea",
        "How many legs does a spider have?",
        "thanks!",
        "Explain the theory of relativity in simple terms",
        "Recommend a good novel for a long train ride",
        "What is the difference between a virus and a bacterium?",
        "What is 15% of 240?",
        "Explain what a black hole is",
        "Who wrote Pride and Prejudice?",
        "Give me a recipe for pancakes",
    ],
}
FILL["lang_place"] = ["France", "Japan", "Peru", "Norway", "Kenya", "Canada", "Vietnam", "Chile", "Egypt", "Iceland"]


def expand(template: str, rng: random.Random) -> str:
    """One filled-in request; each placeholder draws its own filler."""
    out, rest = [], template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        if tail.startswith("{"):  # a literal placeholder such as {{name}}
            out.append(head + "{")
            rest = tail[1:]
            continue
        name, _, rest = tail.partition("}")
        if name in FILL:
            out.append(head + rng.choice(FILL[name]))
        else:
            out.append(head + "{" + name + "}")
    out.append(rest.replace("}}", "}"))
    return "".join(out)


def examples() -> list[dict]:
    """``[{text, task_type, group}]``; ``group`` is ``<task type>/<template index>``."""
    rng = random.Random(SEED)
    rows = []
    for task_type, templates in TEMPLATES.items():
        for index, template in enumerate(templates):
            seen = set()
            for _ in range(PER_TEMPLATE):
                text = expand(template, rng)
                if text not in seen:
                    seen.add(text)
                    rows.append({"text": text, "task_type": task_type, "group": f"{task_type}/{index}"})
    return rows
