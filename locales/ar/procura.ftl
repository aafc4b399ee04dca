# Procura: صفحة الموافقة ووثيقة الوكالة، باللغة العربية.
# تُعرض بجانب النص الفرنسي، وهو النص القانوني. جمل بسيطة.

translation-note = هذه الترجمة موجودة لمساعدتك على الفهم. النص الفرنسي وحده له قيمة قانونية: هو النص الذي توافق عليه وتوقّعه.

## التواريخ (بتوقيت باريس)
month-1 = يناير
month-2 = فبراير
month-3 = مارس
month-4 = أبريل
month-5 = مايو
month-6 = يونيو
month-7 = يوليو
month-8 = أغسطس
month-9 = سبتمبر
month-10 = أكتوبر
month-11 = نوفمبر
month-12 = ديسمبر
date = { $day } { $month } { $year }
date-time = { $date } الساعة { $time } (بتوقيت باريس)
birth-no-day = { $month } { $year } (اليوم غير معروف)
birth-no-month = { $year } (اليوم والشهر غير معروفين)

## الإجراءات
demarche-papiers = الوثائق - المواطنة - الانتخابات
demarche-papiers-desc = الحالة المدنية، جواز السفر، بطاقة الهوية، التسجيل في القوائم الانتخابية
demarche-famille = الأسرة - الدراسة
demarche-famille-desc = المنح العائلية، الولادة، الزواج، الدراسة
demarche-social = الشؤون الاجتماعية - الصحة
demarche-social-desc = التأمين الصحي، المساعدات الاجتماعية، الإعاقة، التقاعد
demarche-travail = العمل - التدريب
demarche-travail-desc = البحث عن عمل، البطالة، التدريب المهني
demarche-logement = السكن
demarche-logement-desc = مساعدات السكن، السكن الاجتماعي، الأشغال
demarche-transports = النقل - التنقل
demarche-transports-desc = رخصة القيادة، وثيقة تسجيل السيارة، ركن السيارات
demarche-argent = المال - الضرائب - الاستهلاك
demarche-argent-desc = الضرائب، القروض، النزاعات مع البائعين
demarche-justice = العدالة
demarche-justice-desc = السجل العدلي، الشكاوى، المساعدة القضائية
demarche-etranger = الأجانب - أوروبا
demarche-etranger-desc = بطاقات الإقامة، التجنيس، الإقامة في أوروبا
demarche-loisirs = الترفيه - الرياضة - الثقافة
demarche-loisirs-desc = الجمعيات، الصيد البري والبحري، الثقافة

## صفحة الموافقة
consent-title = الوكالة: ما الذي توافق عليه
consent-person-heading = الشخص الممثَّل
consent-person = { $name }، تاريخ الميلاد: { $birthdate }. تم التحقق من الهوية عبر FranceConnect.
consent-who-heading = من سيتمكن من التصرف
consent-who = المساعدون المعتمدون في الهيئة { $structure }. يتلقى موافقتك { $aidant }.
consent-demarches-heading = لأي إجراءات
consent-until-heading = إلى متى
consent-until = حتى { $end }.
consent-rules-heading = ما يستطيع المساعدون فعله وما لا يستطيعون
consent-can = يمكنهم الدخول إلى مواقع الإدارة باسمك، فقط للإجراءات المذكورة أعلاه وحتى تاريخ الانتهاء.
consent-cannot = لا يمكنهم التصرف في إجراءات أخرى، ولا تغيير بيانات دخولك إلى FranceConnect.
consent-logged = كل استعمال يُسجَّل في سجل يمكنك الاطلاع عليه.
consent-revoke = يمكنك إلغاء هذه الوكالة في أي وقت، لدى الهيئة.
consent-moi = فضاؤك الشخصي يعرض لك وكالاتك وكل مرة استُعملت فيها، ويسمح لك بإلغائها بنفسك: ادخل عبر FranceConnect على { $url }.
consent-statement-heading = ما توافق عليه عند وضع علامة في الخانة
consent-statement = أأذن للمساعدين المعتمدين في الهيئة { $structure } بإنجاز الإجراءات الإدارية عبر الإنترنت المذكورة أعلاه باسمي، حتى تاريخ الانتهاء المبيَّن. لا يمكن للمساعدين التصرف إلا في هذه الإجراءات، ولا يمكنهم تغيير بيانات دخولي إلى FranceConnect ولا التصرف في إجراءات أخرى. كل استعمال يُسجَّل. يمكنني إلغاء هذه الوكالة في أي وقت.
consent-how = للموافقة، ضع علامة في الخانة الموجودة تحت النص الفرنسي (فهي تقول الشيء نفسه) ثم اضغط على الزر.

## وثيقة الوكالة
attestation-title = وكالة لإنجاز إجراءات إدارية
attestation-legal = تخضع هذه الوكالة للمواد 1984 وما يليها من القانون المدني الفرنسي (Code civil).
attestation-person-heading = 1. الشخص الممثَّل
attestation-person = { $name }، تاريخ الميلاد: { $birthdate }، وقد تم التحقق من هويته عبر FranceConnect.
attestation-structure-heading = 2. الهيئة التي تتصرف نيابة عن الشخص
attestation-structure = { $structure }، رقم SIRET: { $siret }. يتصرف مساعدوها المعتمدون لحساب الشخص. تلقّى الموافقة: { $aidant }.
attestation-demarches-heading = 3. الإجراءات المُوكَلة
attestation-duration-heading = 4. المدة
attestation-duration = تبدأ الوكالة في { $start } وتنتهي في { $end }، ما لم تُلغَ قبل ذلك.
attestation-declare-heading = 5. ما يصرّح به الشخص ويقبله
attestation-mandate = أوكّل الهيئة { $structure } لكي ينجز مساعدوها المعتمدون باسمي الإجراءات المذكورة أعلاه، حتى تاريخ الانتهاء.
attestation-protection = أصرّح بأنني لا أخضع لأي تدبير من تدابير الحماية القانونية: لا وصاية (tutelle)، ولا قوامة (curatelle)، ولا تأهيل عائلي (habilitation familiale)، ولا وكالة حماية مستقبلية (mandat de protection future) سارية المفعول.
attestation-limits = لا يتصرف المساعدون إلا في هذه الإجراءات وبالمعلومات التي أعطيها لهم. لا يمكنهم تغيير بيانات دخولي إلى FranceConnect ولا التصرف في إجراءات أخرى دون موافقتي الجديدة. كل استعمال للوكالة يُسجَّل في سجل يمكنني الاطلاع عليه.
attestation-revoke-heading = 6. كيف تُنهى الوكالة
attestation-revoke = يمكنني إلغاء هذه الوكالة في أي وقت، دون ذكر السبب: لدى الهيئة { $structure }، أو بنفسي بالدخول عبر FranceConnect إلى فضائي الشخصي في Procura (الصفحة /moi)، حيث أرى أيضًا كل استعمال للوكالة.
attestation-data-heading = 7. بياناتك الشخصية
attestation-data-kept = الهيئة { $structure } مسؤولة عن بيانات هذه الوكالة، التي تحتاجها لتنفيذها (المادة 6.1.b من اللائحة العامة لحماية البيانات RGPD). وهي تحتفظ بما يلي: هويتك كما يرسلها FranceConnect (الأسماء، الجنس، تاريخ ومكان الميلاد، البريد الإلكتروني إن أُرسل)، والإجراءات الموكلة، وتواريخ الوكالة، وكل استعمال لها.
attestation-data-time = تُحفظ هذه البيانات طوال مدة الوكالة، ثم لمدة خمس سنوات بعد انتهائها، لإثبات ما أُنجز باسمك. لا يحتوي سجل الاستعمالات إلا على أرقام مرجعية، ولا يحتوي أبدًا على اسمك.
attestation-data-rights = يمكنك الاطلاع على بياناتك، وطلب تصحيحها أو حذفها، وتقييد استعمالها أو الاعتراض عليه: اتصل بالهيئة { $structure }. فضاؤك الشخصي (الصفحة /moi) يعرضها لك أيضًا. إذا رأيت أن حقوقك غير محترمة، يمكنك تقديم شكوى إلى CNIL، وهي الهيئة الفرنسية لحماية البيانات (www.cnil.fr).
attestation-sign = يوقّع الشخص الممثَّل والمساعد، باسم الهيئة، على النص الفرنسي.
