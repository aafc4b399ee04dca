# Procura: the consent page and the mandate document, in English.
# Shown beside the French text, which is the legal one. Keep the sentences plain.

translation-note = This translation is here to help you understand. Only the French text has legal force: it is the one you agree to and sign.

## Dates (Paris time)
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
date = { $day } { $month } { $year }
date-time = { $date } at { $time } (Paris time)
birth-no-day = { $month } { $year } (day unknown)
birth-no-month = { $year } (day and month unknown)

## Procedures
demarche-papiers = Identity papers - Citizenship - Elections
demarche-papiers-desc = civil status, passport, identity card, registering to vote
demarche-famille = Family - School
demarche-famille-desc = family allowances, birth, marriage, schooling
demarche-social = Social - Health
demarche-social-desc = health insurance, social benefits, disability, retirement
demarche-travail = Work - Training
demarche-travail-desc = looking for a job, unemployment, training
demarche-logement = Housing
demarche-logement-desc = housing benefits, social housing, home repairs
demarche-transports = Transport - Getting around
demarche-transports-desc = driving licence, vehicle registration, parking
demarche-argent = Money - Taxes - Consumer matters
demarche-argent-desc = taxes, loans, disputes with a seller
demarche-justice = Justice
demarche-justice-desc = criminal record, complaints, legal aid
demarche-etranger = Foreign nationals - Europe
demarche-etranger-desc = residence permits, naturalisation, stays in Europe
demarche-loisirs = Leisure - Sport - Culture
demarche-loisirs-desc = associations, hunting and fishing, culture

## Consent page
consent-title = The mandate: what you are agreeing to
consent-person-heading = The person represented
consent-person = { $name }, born on { $birthdate }. Identity checked with FranceConnect.
consent-who-heading = Who will be able to act
consent-who = The authorised helpers of the organisation { $structure }. Your agreement is collected by { $aidant }.
consent-demarches-heading = For which procedures
consent-until-heading = Until when
consent-until = Until { $end }.
consent-rules-heading = What the helpers can and cannot do
consent-can = They can log in to government websites in your name, only for the procedures above and until the end date.
consent-cannot = They cannot act for other procedures, and cannot change your FranceConnect login details.
consent-logged = Every use is recorded in a log that you can look at.
consent-revoke = You can cancel this mandate at any time, at the organisation.
consent-moi = Your personal space shows your mandates and every time they are used, and lets you cancel them yourself: log in with FranceConnect at { $url }.
consent-statement-heading = What you agree to by ticking the box
consent-statement = I authorise the authorised helpers of the organisation { $structure } to carry out in my name the online administrative procedures listed above, until the end date shown. The helpers may act only for these procedures; they can neither change my FranceConnect login details nor act for other procedures. Every use is recorded. I can cancel this mandate at any time.
consent-how = To agree, tick the box under the French text (it says the same thing) and press the button.

## Mandate document
attestation-title = Mandate to carry out administrative procedures
attestation-legal = This mandate is governed by articles 1984 and following of the French Civil Code (Code civil).
attestation-person-heading = 1. The person represented
attestation-person = { $name }, born on { $birthdate }, whose identity was checked with FranceConnect.
attestation-structure-heading = 2. The organisation that acts for the person
attestation-structure = { $structure }, SIRET number { $siret }. Its authorised helpers act on behalf of the person. Agreement collected by { $aidant }.
attestation-demarches-heading = 3. The procedures entrusted
attestation-duration-heading = 4. How long it lasts
attestation-duration = The mandate starts on { $start } and ends on { $end }, unless it is cancelled before.
attestation-declare-heading = 5. What the person declares and accepts
attestation-mandate = I give a mandate to the organisation { $structure } so that its authorised helpers carry out in my name the procedures listed above, until the end date.
attestation-protection = I declare that I am not under any legal protection measure: no guardianship (tutelle), no curatorship (curatelle), no family authorisation (habilitation familiale), and no future protection mandate (mandat de protection future) in force.
attestation-limits = The helpers act only for these procedures and with the information I give them. They cannot change my FranceConnect login details or act for other procedures without my new agreement. Every use of the mandate is recorded in a log that I can look at.
attestation-revoke-heading = 6. How to end the mandate
attestation-revoke = I can cancel this mandate at any time, without giving a reason: at the organisation { $structure }, or myself by logging in with FranceConnect to my personal space in Procura (page /moi), where I can also see every use of the mandate.
attestation-data-heading = 7. Your personal data
attestation-data-kept = The organisation { $structure } is responsible for the data of this mandate, which it needs to carry it out (article 6.1.b of the GDPR). It keeps: your identity as sent by FranceConnect (names, sex, date and place of birth, e-mail address if sent), the procedures entrusted, the dates of the mandate and every use of it.
attestation-data-time = This data is kept while the mandate lasts, then for five years after it ends, to be able to prove what was done in your name. The log of uses holds only reference numbers, never your name.
attestation-data-rights = You can see your data, have it corrected or deleted, limit its use or object to it: contact the organisation { $structure }. Your personal space (page /moi) also shows it. If you think your rights are not respected, you can complain to the CNIL, the French data protection authority (www.cnil.fr).
attestation-sign = The person represented and the helper, for the organisation, sign the French text.
