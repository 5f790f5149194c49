using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using XDit.Cli.Commands;
using XDit.Engine.Pipelines;
using XDit.Engine.Serving;

namespace XDit.Tests.Serving;

/// <summary>POST /v1/images/edits takes the multipart body the OpenAI client sends, delivers its image to the model,
/// and refuses a malformed or unsupported body with a 400 saying what is wrong.</summary>
public class OpenAiEditEndpointTests
{
    /// <summary>A boundary as httpx (under the OpenAI Python client) draws it: 32 hex digits.</summary>
    const string Boundary = "8d3a4f0c7b2e49d1a6f5c3b8e0d7a912";

    /// <summary>A 16×24 PNG whose pixels are all (51, 102, 153).</summary>
    static byte[] Png(int height = 16, int width = 24)
    {
        var pixels = new float[3 * height * width];
        for (int c = 0; c < 3; c++) Array.Fill(pixels, (c + 1) * 0.2f, c * height * width, height * width);
        return ServeResponse.EncodePng(new GeneratedImage(pixels, height, width));
    }

    /// <summary>The body the OpenAI Python client (openai 1.x over httpx) sends for
    /// client.images.edit(image=open("cat.png", "rb"), prompt=..., n=..., size=..., response_format="b64_json",
    /// extra_body={...}): the text fields first, each as a form-data part, then the file with its filename and
    /// Content-Type image/png, then the close delimiter and CRLF.</summary>
    static byte[] ClientBody(IEnumerable<(string Name, string Value)> fields, IEnumerable<(string Name, byte[] File)> files, string boundary = Boundary)
    {
        var body = new MemoryStream();
        void Text(string s) => body.Write(Encoding.UTF8.GetBytes(s));
        foreach (var (name, value) in fields)
            Text($"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
        foreach (var (name, file) in files)
        {
            Text($"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"cat.png\"\r\nContent-Type: image/png\r\n\r\n");
            body.Write(file);
            Text("\r\n");
        }
        Text($"--{boundary}--\r\n");
        return body.ToArray();
    }

    static async Task<HttpResponseMessage> PostEdit(ServeTestServer server, byte[] body, string? contentType = $"multipart/form-data; boundary={Boundary}")
    {
        var content = new ByteArrayContent(body);
        if (contentType is not null) content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/images/edits") { Content = content };
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-not-checked");
        message.Headers.UserAgent.ParseAdd("OpenAI/Python 1.54.0");
        message.Headers.Accept.ParseAdd("application/json");
        return await server.Client.SendAsync(message, TestContext.Current.CancellationToken);
    }

    static readonly (string, string)[] Fields =
        [("prompt", "make it blue"), ("model", "xdit-demo"), ("n", "1"), ("size", "24x16"), ("response_format", "b64_json"), ("num_inference_steps", "2"), ("seed", "9"), ("strength", "0.5")];

    [Fact]
    public async Task AnOpenAiClientEditGetsAPngAsB64JsonAndTheModelGetsTheUploadedImage()
    {
        var gen = new GatedGenerator(open: true);
        await using var server = await ServeTestServer.StartAsync(gen, queueSize: 1);
        var response = await PostEdit(server, ClientBody(Fields, [("image", Png())]));
        var body = await server.Json(response);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToString());
        Assert.True(body.GetProperty("created").GetInt64() > 1_600_000_000);
        var file = Path.Combine(TestPaths.TempDir(), "openai_edit.png");
        File.WriteAllBytes(file, Convert.FromBase64String(Assert.Single(body.GetProperty("data").EnumerateArray()).GetProperty("b64_json").GetString()!));
        var rgb = PngPixels.ReadRgb(file, out int width, out int height);
        Assert.Equal((24, 16), (width, height));
        Assert.Equal((byte)9, rgb[0]); // the fake's colour for seed 9: the form's seed arrived
        // the file arrived byte for byte: decoded to its size and colour
        var image = Assert.IsType<InputImage>(gen.LastImage);
        Assert.Equal((16, 24), (image.Height, image.Width));
        Assert.Equal(new byte[] { 51, 102, 153 }, image.Rgb[..3]);
    }

    [Fact]
    public async Task ImageArrayWithOneFileIsTakenAsTheOpenAiClientNamesAList()
    {
        var gen = new GatedGenerator(open: true);
        await using var server = await ServeTestServer.StartAsync(gen, queueSize: 1);
        var response = await PostEdit(server, ClientBody([("prompt", "x"), ("size", "8x8")], [("image[]", Png())]));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(gen.LastImage);
    }

    public static TheoryData<string, byte[], string?, string?, string> Malformed()
    {
        var png = Png();
        var ok = ClientBody([("prompt", "x")], [("image", png)]);
        return new()
        {
            { "no boundary", ok, "multipart/form-data", null, "no boundary parameter" },
            { "not multipart", ok, "application/json", null, "must be multipart/form-data" },
            { "truncated part", ok[..(ok.Length - 45)], $"multipart/form-data; boundary={Boundary}", null, "truncated" },
            { "no close delimiter", ok[..(ok.Length - 4)], $"multipart/form-data; boundary={Boundary}", null, "truncated" },
            { "missing image", ClientBody([("prompt", "x")], []), $"multipart/form-data; boundary={Boundary}", "image", "image is required" },
            { "image as text", ClientBody([("prompt", "x"), ("image", "cat")], []), $"multipart/form-data; boundary={Boundary}", "image", "file part" },
            { "mask given", ClientBody([("prompt", "x")], [("image", png), ("mask", png)]), $"multipart/form-data; boundary={Boundary}", "mask", "inpainting" },
            { "two images", ClientBody([("prompt", "x")], [("image[]", png), ("image[]", png)]), $"multipart/form-data; boundary={Boundary}", "image", "one image per request: got 2" },
            { "no name", Encoding.ASCII.GetBytes($"--{Boundary}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{Boundary}--\r\n"), $"multipart/form-data; boundary={Boundary}", null, "has no name" },
            { "no disposition", Encoding.ASCII.GetBytes($"--{Boundary}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{Boundary}--\r\n"), $"multipart/form-data; boundary={Boundary}", null, "no Content-Disposition" },
            { "bare LF delimiter", Encoding.ASCII.GetBytes($"--{Boundary}\nContent-Disposition: form-data; name=\"prompt\"\n\nx\n--{Boundary}--\n"), $"multipart/form-data; boundary={Boundary}", null, "CRLF" },
            { "not an image", ClientBody([("prompt", "x")], [("image", "not a png"u8.ToArray())]), $"multipart/form-data; boundary={Boundary}", "image", "not an image" },
            { "url answer", ClientBody([("prompt", "x"), ("response_format", "url")], [("image", png)]), $"multipart/form-data; boundary={Boundary}", "response_format", "b64_json" },
            { "text seed", ClientBody([("prompt", "x"), ("seed", "seven")], [("image", png)]), $"multipart/form-data; boundary={Boundary}", "seed", "must be an integer" },
            { "n zero", ClientBody([("prompt", "x"), ("n", "0")], [("image", png)]), $"multipart/form-data; boundary={Boundary}", "n", "positive" },
            { "unknown field", ClientBody([("prompt", "x"), ("quality", "hd")], [("image", png)]), $"multipart/form-data; boundary={Boundary}", "quality", "unknown field" },
        };
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task AMalformedOrUnsupportedEditIs400SayingWhatIsWrong(string what, byte[] body, string? contentType, string? param, string says)
    {
        var gen = new GatedGenerator(open: true);
        await using var server = await ServeTestServer.StartAsync(gen, queueSize: 1);
        var response = await PostEdit(server, body, contentType);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{what}: {response.StatusCode}");
        var error = (await server.Json(response)).GetProperty("error");
        Assert.Equal(("invalid_request_error", param), (error.GetProperty("type").GetString(), error.GetProperty("param").GetString()));
        Assert.Contains(says, error.GetProperty("message").GetString());
        Assert.Empty(gen.Ran);
    }

    [Fact]
    public async Task ABodyOverTheLimitIs413()
    {
        var gen = new GatedGenerator(open: true);
        var options = ServeCommand.HostOptions(10, 1024, 1, null, 4, maxBody: "4K");
        await using var server = await ServeTestServer.StartAsync(gen, queueSize: 1, options);
        var response = await PostEdit(server, ClientBody([("prompt", "x")], [("image", new byte[5000])]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("--max-body", (await server.Json(response)).GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.OK, (await PostEdit(server, ClientBody([("prompt", "x"), ("size", "8x8")], [("image", Png(4, 4))]))).StatusCode);
        Assert.Single(gen.Ran);
    }

    [Fact]
    public async Task AModelThatTakesNoImageRefusesTheEditAs400NamingImage()
    {
        var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        await using var server = await ServeTestServer.StartAsync(new PipelineImageGenerator(pipeline, "demo"), queueSize: 1);
        var response = await PostEdit(server, ClientBody([("prompt", "x"), ("num_inference_steps", "1")], [("image", Png())]));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await server.Json(response)).GetProperty("error");
        Assert.Equal("image", error.GetProperty("param").GetString());
        Assert.Contains("takes no input image", error.GetProperty("message").GetString());
        await server.Host.StopAsync();
    }

    [Fact]
    public void TheParserTakesAQuotedBoundaryAPreamblePaddingAndAnEpilogue()
    {
        var body = Encoding.UTF8.GetBytes(
            "a preamble\r\n--b:1 x\t \r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nein Bild\r\n--b:1 x\r\n" +
            "content-disposition: form-data; name=\"image\"; filename=\"a \\\"b\\\".png\"\r\nContent-Type: image/png\r\n\r\n\r\n--b:1\r\n--b:1 x--\r\nepilogue");
        var parts = MultipartFormData.Parse(body, "Multipart/Form-Data; charset=utf-8; boundary=\"b:1 x\"", 1 << 20);
        Assert.Equal(2, parts.Count);
        Assert.Equal(("prompt", null, "ein Bild"), (parts[0].Name, parts[0].FileName, parts[0].Text));
        Assert.Equal(("image", "a \"b\".png", "image/png"), (parts[1].Name, parts[1].FileName, parts[1].ContentType));
        Assert.Equal("\r\n--b:1", parts[1].Text); // a line that is only the start of the delimiter is data
    }

    [Fact]
    public void APartOverItsBoundIsRefusedNamingTheField()
    {
        var file = ClientBody([], [("image", new byte[100])]);
        var e = Assert.Throws<ServeRequestException>(() => MultipartFormData.Parse(file, $"multipart/form-data; boundary={Boundary}", 99));
        Assert.Equal("image", e.Field);
        var text = ClientBody([("prompt", new string('x', MultipartFormData.MaxFieldBytes + 1))], []);
        Assert.Contains("text field", Assert.Throws<ServeRequestException>(() => MultipartFormData.Parse(text, $"multipart/form-data; boundary={Boundary}", 1 << 20)).Message);
    }

    [Fact]
    public async Task OpenApiJsonDescribesTheEditsEndpointWithEveryFieldItTakes()
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1);
        var doc = await server.Json(await server.Get("openapi.json"));
        var edits = doc.GetProperty("paths").GetProperty("/v1/images/edits").GetProperty("post");
        Assert.True(edits.GetProperty("requestBody").GetProperty("content").TryGetProperty("multipart/form-data", out _));
        var described = doc.GetProperty("components").GetProperty("schemas").GetProperty("OpenAiImageEditRequest").GetProperty("properties")
            .EnumerateObject().Select(p => p.Name).Order().ToList();
        var parsed = (typeof(OpenAiImageEditRequest).GetField("Known", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .GetValue(null) as string[])!.Except(["image[]", "mask"]).Order().ToList(); // image[] is image's list name; mask is refused
        Assert.Equal(parsed, described);
    }
}
