namespace XDit.Engine.Serving;

/// <summary>How the images come back: inline as base64 PNG, or written into a folder and returned as paths.</summary>
public enum ServeOutput
{
    PngBase64,
    Path,
}
