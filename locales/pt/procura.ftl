# Procura: a página de consentimento e o documento de mandato, em português.
# Mostrado ao lado do texto francês, que é o texto legal. Frases simples.

translation-note = Esta tradução está aqui para o ajudar a compreender. Só o texto em francês tem valor legal: é esse que aceita e assina.

## Datas (hora de Paris)
month-1 = janeiro
month-2 = fevereiro
month-3 = março
month-4 = abril
month-5 = maio
month-6 = junho
month-7 = julho
month-8 = agosto
month-9 = setembro
month-10 = outubro
month-11 = novembro
month-12 = dezembro
date = { $day } de { $month } de { $year }
date-time = { $date } às { $time } (hora de Paris)
birth-no-day = { $month } de { $year } (dia desconhecido)
birth-no-month = { $year } (dia e mês desconhecidos)

## Procedimentos
demarche-papiers = Documentos - Cidadania - Eleições
demarche-papiers-desc = registo civil, passaporte, cartão de identidade, inscrição nos cadernos eleitorais
demarche-famille = Família - Escolaridade
demarche-famille-desc = abonos de família, nascimento, casamento, escolaridade
demarche-social = Social - Saúde
demarche-social-desc = seguro de saúde, apoios sociais, deficiência, reforma
demarche-travail = Trabalho - Formação
demarche-travail-desc = procura de emprego, desemprego, formação
demarche-logement = Habitação
demarche-logement-desc = apoios à habitação, habitação social, obras
demarche-transports = Transportes - Mobilidade
demarche-transports-desc = carta de condução, registo do veículo, estacionamento
demarche-argent = Dinheiro - Impostos - Consumo
demarche-argent-desc = impostos, créditos, litígios com um vendedor
demarche-justice = Justiça
demarche-justice-desc = registo criminal, queixas, apoio judiciário
demarche-etranger = Estrangeiros - Europa
demarche-etranger-desc = autorizações de residência, naturalização, estadias na Europa
demarche-loisirs = Lazer - Desporto - Cultura
demarche-loisirs-desc = associações, caça e pesca, cultura

## Página de consentimento
consent-title = O mandato: o que está a aceitar
consent-person-heading = A pessoa representada
consent-person = { $name }, nascido ou nascida em { $birthdate }. Identidade verificada com o FranceConnect.
consent-who-heading = Quem poderá agir
consent-who = Os ajudantes autorizados da organização { $structure }. O seu acordo é recolhido por { $aidant }.
consent-demarches-heading = Para que procedimentos
consent-until-heading = Até quando
consent-until = Até { $end }.
consent-rules-heading = O que os ajudantes podem e não podem fazer
consent-can = Podem entrar nos sites da administração em seu nome, apenas para os procedimentos indicados e até à data de fim.
consent-cannot = Não podem agir para outros procedimentos nem alterar os seus dados de acesso ao FranceConnect.
consent-logged = Cada utilização fica registada num registo que pode consultar.
consent-revoke = Pode anular este mandato a qualquer momento, junto da organização.
consent-moi = O seu espaço pessoal mostra os seus mandatos e cada vez que são usados, e permite-lhe anulá-los você mesmo: entre com o FranceConnect em { $url }.
consent-statement-heading = O que aceita ao marcar a caixa
consent-statement = Autorizo os ajudantes autorizados da organização { $structure } a realizar em meu nome os procedimentos administrativos em linha indicados acima, até à data de fim indicada. Os ajudantes só podem agir para estes procedimentos; não podem alterar os meus dados de acesso ao FranceConnect nem agir para outros procedimentos. Cada utilização fica registada. Posso anular este mandato a qualquer momento.
consent-how = Para aceitar, marque a caixa que está por baixo do texto em francês (diz o mesmo) e carregue no botão.

## Documento de mandato
attestation-title = Mandato para realizar procedimentos administrativos
attestation-legal = Este mandato rege-se pelos artigos 1984 e seguintes do Código Civil francês (Code civil).
attestation-person-heading = 1. A pessoa representada
attestation-person = { $name }, nascido ou nascida em { $birthdate }, cuja identidade foi verificada com o FranceConnect.
attestation-structure-heading = 2. A organização que age pela pessoa
attestation-structure = { $structure }, número SIRET { $siret }. Os seus ajudantes autorizados agem por conta da pessoa. Acordo recolhido por { $aidant }.
attestation-demarches-heading = 3. Os procedimentos confiados
attestation-duration-heading = 4. Duração
attestation-duration = O mandato começa em { $start } e termina em { $end }, salvo se for anulado antes.
attestation-declare-heading = 5. O que a pessoa declara e aceita
attestation-mandate = Dou mandato à organização { $structure } para que os seus ajudantes autorizados realizem em meu nome os procedimentos indicados acima, até à data de fim.
attestation-protection = Declaro que não estou sujeito a nenhuma medida de proteção jurídica: nem tutela (tutelle), nem curatela (curatelle), nem habilitação familiar (habilitation familiale), nem mandato de proteção futura (mandat de protection future) em vigor.
attestation-limits = Os ajudantes só agem para estes procedimentos e com as informações que eu lhes dou. Não podem alterar os meus dados de acesso ao FranceConnect nem agir para outros procedimentos sem o meu novo acordo. Cada utilização do mandato fica registada num registo que posso consultar.
attestation-revoke-heading = 6. Como terminar o mandato
attestation-revoke = Posso anular este mandato a qualquer momento, sem ter de me justificar: junto da organização { $structure }, ou eu mesmo, entrando com o FranceConnect no meu espaço pessoal Procura (página /moi), onde também vejo cada utilização do mandato.
attestation-data-heading = 7. Os seus dados pessoais
attestation-data-kept = A organização { $structure } é responsável pelos dados deste mandato, de que precisa para o cumprir (artigo 6.1.b do RGPD). Guarda: a sua identidade tal como enviada pelo FranceConnect (nomes, apelidos, sexo, data e local de nascimento, endereço de correio eletrónico se enviado), os procedimentos confiados, as datas do mandato e cada utilização dele.
attestation-data-time = Estes dados são guardados enquanto o mandato durar e depois durante cinco anos após o seu fim, para poder provar o que foi feito em seu nome. O registo das utilizações só contém números de referência, nunca o seu nome.
attestation-data-rights = Pode ver os seus dados, pedir que sejam corrigidos ou apagados, limitar a sua utilização ou opor-se a ela: contacte a organização { $structure }. O seu espaço pessoal (página /moi) também os mostra. Se achar que os seus direitos não são respeitados, pode apresentar uma reclamação à CNIL, a autoridade francesa de proteção de dados (www.cnil.fr).
attestation-sign = A pessoa representada e o ajudante, pela organização, assinam o texto em francês.
