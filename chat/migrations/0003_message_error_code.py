from django.db import migrations, models

# The texts the server saved before error codes were stored (see chat/contract.py).
INTERRUPTED_ERROR = "The answer was interrupted because the server stopped."


def backfill(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    errors = Message.objects.filter(status="error")
    errors.filter(error=INTERRUPTED_ERROR).update(error_code="interrupted")
    errors.filter(error_code="").update(error_code="model_error")


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0002_review_feedback_audit"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="error_code",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
