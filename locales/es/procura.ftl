# Procura: la página de consentimiento y el documento de mandato, en español.
# Se muestra al lado del texto francés, que es el texto legal. Frases sencillas.

translation-note = Esta traducción está aquí para ayudarle a entender. Solo el texto en francés tiene valor legal: es el que usted acepta y firma.

## Fechas (hora de París)
month-1 = enero
month-2 = febrero
month-3 = marzo
month-4 = abril
month-5 = mayo
month-6 = junio
month-7 = julio
month-8 = agosto
month-9 = septiembre
month-10 = octubre
month-11 = noviembre
month-12 = diciembre
date = { $day } de { $month } de { $year }
date-time = { $date } a las { $time } (hora de París)
birth-no-day = { $month } de { $year } (día desconocido)
birth-no-month = { $year } (día y mes desconocidos)

## Trámites
demarche-papiers = Documentos - Ciudadanía - Elecciones
demarche-papiers-desc = registro civil, pasaporte, documento de identidad, inscripción en el censo electoral
demarche-famille = Familia - Escolaridad
demarche-famille-desc = prestaciones familiares, nacimiento, matrimonio, escolaridad
demarche-social = Social - Salud
demarche-social-desc = seguro de enfermedad, ayudas sociales, discapacidad, jubilación
demarche-travail = Trabajo - Formación
demarche-travail-desc = búsqueda de empleo, desempleo, formación
demarche-logement = Vivienda
demarche-logement-desc = ayudas para la vivienda, vivienda social, obras
demarche-transports = Transporte - Movilidad
demarche-transports-desc = permiso de conducir, permiso de circulación del vehículo, aparcamiento
demarche-argent = Dinero - Impuestos - Consumo
demarche-argent-desc = impuestos, créditos, conflictos con un vendedor
demarche-justice = Justicia
demarche-justice-desc = antecedentes penales, denuncias, asistencia jurídica gratuita
demarche-etranger = Extranjeros - Europa
demarche-etranger-desc = permisos de residencia, nacionalidad, estancias en Europa
demarche-loisirs = Ocio - Deporte - Cultura
demarche-loisirs-desc = asociaciones, caza y pesca, cultura

## Página de consentimiento
consent-title = El mandato: lo que usted acepta
consent-person-heading = La persona representada
consent-person = { $name }, nacido o nacida el { $birthdate }. Identidad comprobada con FranceConnect.
consent-who-heading = Quién podrá actuar
consent-who = Los ayudantes autorizados de la organización { $structure }. Su acuerdo lo recoge { $aidant }.
consent-demarches-heading = Para qué trámites
consent-until-heading = Hasta cuándo
consent-until = Hasta el { $end }.
consent-rules-heading = Lo que los ayudantes pueden y no pueden hacer
consent-can = Pueden entrar en los sitios web de la administración en su nombre, solo para los trámites indicados y hasta la fecha de fin.
consent-cannot = No pueden actuar para otros trámites ni cambiar sus datos de acceso a FranceConnect.
consent-logged = Cada uso queda registrado en un registro que usted puede consultar.
consent-revoke = Usted puede anular este mandato en cualquier momento, en la organización.
consent-moi = Su espacio personal le muestra sus mandatos y cada vez que se usan, y le permite anularlos usted mismo: conéctese con FranceConnect en { $url }.
consent-statement-heading = Lo que usted acepta al marcar la casilla
consent-statement = Autorizo a los ayudantes autorizados de la organización { $structure } a realizar en mi nombre los trámites administrativos en línea indicados arriba, hasta la fecha de fin indicada. Los ayudantes solo pueden actuar para estos trámites; no pueden cambiar mis datos de acceso a FranceConnect ni actuar para otros trámites. Cada uso queda registrado. Puedo anular este mandato en cualquier momento.
consent-how = Para aceptar, marque la casilla que está debajo del texto en francés (dice lo mismo) y pulse el botón.

## Documento de mandato
attestation-title = Mandato para realizar trámites administrativos
attestation-legal = Este mandato se rige por los artículos 1984 y siguientes del Código Civil francés (Code civil).
attestation-person-heading = 1. La persona representada
attestation-person = { $name }, nacido o nacida el { $birthdate }, cuya identidad se comprobó con FranceConnect.
attestation-structure-heading = 2. La organización que actúa por la persona
attestation-structure = { $structure }, número SIRET { $siret }. Sus ayudantes autorizados actúan por cuenta de la persona. Acuerdo recogido por { $aidant }.
attestation-demarches-heading = 3. Los trámites confiados
attestation-duration-heading = 4. Duración
attestation-duration = El mandato empieza el { $start } y termina el { $end }, salvo si se anula antes.
attestation-declare-heading = 5. Lo que la persona declara y acepta
attestation-mandate = Doy mandato a la organización { $structure } para que sus ayudantes autorizados realicen en mi nombre los trámites indicados arriba, hasta la fecha de fin.
attestation-protection = Declaro que no estoy bajo ninguna medida de protección jurídica: ni tutela (tutelle), ni curatela (curatelle), ni habilitación familiar (habilitation familiale), ni mandato de protección futura (mandat de protection future) en vigor.
attestation-limits = Los ayudantes solo actúan para estos trámites y con la información que yo les doy. No pueden cambiar mis datos de acceso a FranceConnect ni actuar para otros trámites sin mi nuevo acuerdo. Cada uso del mandato queda registrado en un registro que puedo consultar.
attestation-revoke-heading = 6. Cómo poner fin al mandato
attestation-revoke = Puedo anular este mandato en cualquier momento, sin dar explicaciones: en la organización { $structure }, o yo mismo conectándome con FranceConnect a mi espacio personal de Procura (página /moi), donde también veo cada uso del mandato.
attestation-data-heading = 7. Sus datos personales
attestation-data-kept = La organización { $structure } es responsable de los datos de este mandato, que necesita para cumplirlo (artículo 6.1.b del RGPD). Conserva: su identidad tal como la envía FranceConnect (nombres, apellidos, sexo, fecha y lugar de nacimiento, correo electrónico si se envía), los trámites confiados, las fechas del mandato y cada uso que se hace de él.
attestation-data-time = Estos datos se conservan mientras dura el mandato y después durante cinco años tras su fin, para poder demostrar lo que se hizo en su nombre. El registro de usos solo contiene números de referencia, nunca su nombre.
attestation-data-rights = Usted puede ver sus datos, pedir que se corrijan o se borren, limitar su uso u oponerse a él: diríjase a la organización { $structure }. Su espacio personal (página /moi) también se los muestra. Si cree que no se respetan sus derechos, puede presentar una reclamación ante la CNIL, la autoridad francesa de protección de datos (www.cnil.fr).
attestation-sign = La persona representada y el ayudante, por la organización, firman el texto en francés.
