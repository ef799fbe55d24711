import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0013_pin_archive'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='SpeechUsage',
            fields=[
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='chat_speech_usage', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('day', models.DateField()),
                ('chars', models.PositiveIntegerField(default=0)),
            ],
        ),
    ]
