"""A message's public shape, the same for every reader and every interface: what the REST API
renders, what the live chat's frames carry, what the broadcast after COMMIT sends. Attachment
URLs are paths (no request here). Who may read a message is checked on its kind elsewhere."""

from django.db.models import Exists, OuterRef, Prefetch, QuerySet, prefetch_related_objects
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from accounts.roles import Role, user_role
from tickets.models import Attachment, Message
from tickets.selectors import with_authors


def display_name(user) -> str:
    return user.get_full_name() or user.get_username()


@extend_schema_serializer(component_name="Person")
class PersonOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return display_name(user)


@extend_schema_serializer(component_name="Author")
class AuthorOut(PersonOut):
    role = serializers.SerializerMethodField()

    @extend_schema_field(
        serializers.ChoiceField(choices=[Role.CUSTOMER, Role.AGENT, Role.MANAGER, Role.ADMIN])
    )
    def get_role(self, user) -> str | None:
        return user_role(user)


@extend_schema_serializer(component_name="Attachment")
class AttachmentOut(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Download, with the caller's rights.")

    class Meta:
        model = Attachment
        fields = ["id", "filename", "size", "content_type", "url"]
        read_only_fields = fields

    def get_url(self, attachment: Attachment) -> str:
        path = reverse("api:attachment-download", args=[attachment.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


@extend_schema_serializer(component_name="Message")
class MessageOut(serializers.ModelSerializer):
    ticket = serializers.IntegerField(source="ticket_id")
    author = serializers.SerializerMethodField()
    attachments = AttachmentOut(many=True)

    class Meta:
        model = Message
        fields = ["id", "ticket", "author", "kind", "channel", "body", "created_at", "attachments"]
        read_only_fields = fields

    @extend_schema_field(AuthorOut(allow_null=True))
    def get_author(self, message: Message):
        author = message.author
        if author is None:
            return None
        if author.is_staff and not author.is_superuser:
            # The thread query already answered the managers-group question for each author;
            # handing it to user_role's cache keeps the page's query count constant.
            author._helpdesk_role = Role.MANAGER if message.author_is_manager else Role.AGENT
        return AuthorOut(author).data


# One serializer for every render: building a ModelSerializer's fields costs more than rendering
# a message with them, and rendering keeps no state (no request in its context: URLs are paths).
MESSAGE_OUT = MessageOut()
# Prefetched without a query: what a message holds when it has no attachments.
NO_ATTACHMENTS = Prefetch("attachments", queryset=Attachment.objects.none())


def message_shape(message: Message) -> dict:
    """Plain JSON values only (dates as ISO strings): the dict also travels as msgpack."""
    return MESSAGE_OUT.to_representation(message)


def message_loaded(messages: QuerySet[Message], message_id: int) -> Message | None:
    """One message of `messages` (built on `with_authors`), ready to render, in one query:
    its attachments are read only when it has some, which a chat line seldom has."""
    message = (
        messages.prefetch_related(None)
        .annotate(has_attachments=Exists(Attachment.objects.filter(message=OuterRef("pk"))))
        .filter(pk=message_id)
        .first()
    )
    if message is not None:
        prefetch_related_objects(
            [message], "attachments" if message.has_attachments else NO_ATTACHMENTS
        )
    return message


def message_rendered(message_id: int) -> dict | None:
    message = message_loaded(with_authors(Message.objects.all()), message_id)
    return None if message is None else message_shape(message)


def message_written_shape(message: Message) -> dict:
    """The shape of a message this process has just written, without attachments, from the
    object in memory: no query. Its author is the object that wrote it, whose role
    `user_role` has usually cached already (it asked it to allow the write)."""
    author = message.author
    message.author_is_manager = author is not None and user_role(author) == Role.MANAGER
    prefetch_related_objects([message], NO_ATTACHMENTS)
    return message_shape(message)
